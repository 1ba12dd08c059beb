/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A marketer opens a shipped segment, refreshes it and opens its members.
registry.category("web_tour.tours").add("customer_pulse_segment", {
    url: "/odoo",
    steps: () => [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open the Customer Pulse app",
            trigger: ".o_app[data-menu-xmlid='customer_pulse.menu_root']",
            run: "click",
        },
        {
            content: "Open the segments",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_segments']",
            run: "click",
        },
        {
            content: "Open the segment of lapsed customers",
            trigger: ".o_list_view .o_data_row td:contains('No purchase for over a year')",
            run: "click",
        },
        {
            content: "Refresh it",
            trigger: ".o_form_view button[name='action_refresh']",
            run: "click",
        },
        {
            content: "It is up to date with one member",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Up to date')",
        },
        {
            content: "Open its members",
            trigger: ".o_form_view button[name='action_open_members']:contains('1')",
            run: "click",
        },
        {
            content: "The lapsed customer is listed",
            trigger: ".o_list_view .o_data_row:contains('Lapsed Tour Customer')",
        },
    ],
});
