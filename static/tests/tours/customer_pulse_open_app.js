/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A Customer Pulse user opens the app from the home menu and finds the customer list.
registry.category("web_tour.tours").add("customer_pulse_open_app", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("customer_pulse.menu_root", "Open the Customer Pulse app"),
        {
            content: "The customer list opens",
            trigger: ".o_breadcrumb:contains('Customers')",
        },
        {
            content: "It lists the customers of the company",
            trigger: ".o_list_view .o_data_row:contains('Tour Customer')",
        },
    ],
});
