/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A manager opens the deals entering each stage, reads the count of a stage and drills into
// the deals behind it, then opens one of them.
registry.category("web_tour.tours").add("customer_pulse_pipeline", {
    url: "/odoo",
    steps: () => [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open the Customer Pulse app",
            trigger: ".o_app[data-menu-xmlid='customer_pulse.menu_root']",
            run: "click",
        },
        {
            content: "Open the Reporting menu",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_reporting']",
            run: "click",
        },
        {
            content: "Open the deals entering each stage",
            trigger: ".dropdown-item[data-menu-xmlid='customer_pulse.menu_pulse_stage_entries']",
            run: "click",
        },
        {
            content: "Two deals entered the proposal stage",
            trigger:
                ".o_pivot tbody tr:has(th:contains('Tour Proposal')) td.o_pivot_cell_value:first .o_value:contains('2')",
        },
        {
            content: "Drill into them",
            trigger:
                ".o_pivot tbody tr:has(th:contains('Tour Proposal')) td.o_pivot_cell_value:first",
            run: "click",
        },
        {
            content: "The deals that entered the stage are listed",
            trigger: ".o_list_view .o_data_row:contains('Tour Other Deal')",
        },
        {
            content: "Open one of them",
            trigger:
                ".o_list_view .o_data_row:contains('Tour Pipeline Deal') button[name='action_open_lead']",
            run: "click",
        },
        {
            content: "The opportunity is open",
            trigger: ".o_form_view .o_breadcrumb .active:contains('Tour Pipeline Deal')",
        },
    ],
});
