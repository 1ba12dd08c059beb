/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A manager reads the quote funnel (each salesperson's quotations of the month they were
// issued, and how many became orders), then the work done by each employee this month,
// compared with the previous month.
registry.category("web_tour.tours").add("customer_pulse_work", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("customer_pulse.menu_root", "Open the Customer Pulse app"),
        {
            content: "Open the Reporting menu",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_reporting']",
            run: "click",
        },
        {
            content: "Open the quote funnel",
            trigger: ".dropdown-item[data-menu-xmlid='customer_pulse.menu_quote_funnel']",
            run: "click",
        },
        {
            content: "The seller's three quotations of this year are counted",
            trigger:
                ".o_pivot tbody tr:has(th:contains('Tour Seller')) td.o_pivot_cell_value:first .o_value:contains('3')",
        },
        {
            content: "Drill into them",
            trigger: ".o_pivot tbody tr:has(th:contains('Tour Seller')) td.o_pivot_cell_value:first",
            run: "click",
        },
        {
            content: "The seller's quotations are listed",
            trigger: ".o_list_view .o_data_row:contains('Tour Funnel Co')",
        },
        {
            content: "Open the Reporting menu again",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_reporting']",
            run: "click",
        },
        {
            content: "Open the work done",
            trigger: ".dropdown-item[data-menu-xmlid='customer_pulse.menu_work_done']",
            run: "click",
        },
        {
            content: "The seller's calls of this month are there",
            trigger: ".o_pivot thead th:contains('Calls')",
        },
        {
            content: "The seller has a row",
            trigger: ".o_pivot tbody tr th:contains('Tour Seller')",
        },
        {
            content: "Open the search options",
            trigger: ".o_control_panel .o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Compare with the previous period",
            trigger: ".o_comparison_menu .o_menu_item:contains('Previous Period')",
            run: "click",
        },
        {
            content: "The pivot shows the variation against the previous period",
            trigger: ".o_pivot .o_variation",
        },
    ],
});
