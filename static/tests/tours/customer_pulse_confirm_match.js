/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A marketer confirms which customer answered a public survey with a typed email.
registry.category("web_tour.tours").add("customer_pulse_confirm_match", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("customer_pulse.menu_root", "Open the Customer Pulse app"),
        {
            content: "Open the Profiling menu",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_profiling']",
            run: "click",
        },
        {
            content: "Open the answers waiting for a customer",
            trigger: ".dropdown-item[data-menu-xmlid='customer_pulse.menu_unmatched_answers']",
            run: "click",
        },
        {
            content: "The answer waits, the customer with that email suggested",
            trigger: ".o_list_view .o_data_row:contains('buyer@match.example'):contains('Match Tour Co')",
        },
        {
            content: "Confirm the match",
            trigger: ".o_data_row:contains('buyer@match.example') button[name='action_pulse_confirm_match']",
            run: "click",
        },
        {
            content: "The suggested customer is proposed",
            trigger: ".modal .o_field_widget[name='partner_id'] input:value(Match Tour Co)",
        },
        {
            content: "Confirm",
            trigger: ".modal button[name='action_confirm']",
            run: "click",
        },
        {
            content: "The answer no longer waits",
            trigger: "body:not(:has(.modal)) .o_view_nocontent",
        },
    ],
});
