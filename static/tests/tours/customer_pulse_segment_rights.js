/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A marketer opens a shipped segment: the member figures are there, the revenue figures
// (for people who may see invoices) are not, and the segment says whose rights it runs with.
registry.category("web_tour.tours").add("customer_pulse_segment_rights", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("customer_pulse.menu_root", "Open the Customer Pulse app"),
        {
            content: "Open the Segments menu",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_segments']",
            run: "click",
        },
        {
            content: "Open the list of segments",
            trigger: ".dropdown-item[data-menu-xmlid='customer_pulse.menu_segment_list']",
            run: "click",
        },
        {
            content: "Open the lapsed customers' segment",
            trigger: ".o_list_view .o_data_row td:contains('No purchase for over a year')",
            run: "click",
        },
        {
            content: "The segment runs with its responsible's rights",
            trigger: ".o_form_view .o_field_widget[name='user_id'] input",
        },
        {
            content: "The member figures are shown",
            trigger: ".o_form_view .o_field_widget[name='kpi_forecast_orders']",
        },
        {
            content: "Its filter (relative to the Lapsed customers setting) reads as valid",
            trigger: ".o_form_view .o_field_domain:not(:contains('Invalid domain'))",
        },
        {
            content: "No revenue figure for a marketer who may not see invoices",
            trigger:
                ".o_form_view:not(:has(.o_field_widget[name='kpi_revenue'])):not(:has(.o_field_widget[name='kpi_forecast_revenue']))",
        },
    ],
});
