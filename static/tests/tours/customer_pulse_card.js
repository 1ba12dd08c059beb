/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// From the app's contact list to a customer's pulse card, then to the customer's invoices.
registry.category("web_tour.tours").add("customer_pulse_card", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("customer_pulse.menu_root", "Open the Customer Pulse app"),
        {
            content: "Open the contacts",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_contacts']",
            run: "click",
        },
        {
            // the app opens on the Customers list, which lists the same customer: wait
            // until the contacts have replaced it before clicking a row
            content: "The contacts are open",
            trigger: ".o_last_breadcrumb_item:contains('Contacts')",
        },
        {
            content: "Open the customer",
            trigger: ".o_list_view .o_data_row td:contains('Tour Customer')",
            run: "click",
        },
        {
            content: "The pulse card shows the customer's last order and segment",
            trigger: ".o_pulse_card .o_pulse_last_order:not(:empty)",
        },
        {
            content: "Click through to the invoices",
            trigger: ".o_pulse_card button[name='action_pulse_invoices']",
            run: "click",
        },
        {
            content: "The customer's invoice is listed",
            trigger: ".o_list_view .o_data_row:contains('Tour Customer')",
        },
    ],
});
