/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A manager opens the return on rules from the Reporting menu and finds a rule's line with
// its cost.
registry.category("web_tour.tours").add("customer_pulse_rule_return", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("customer_pulse.menu_root", "Open the Customer Pulse app"),
        {
            content: "Open the Reporting menu",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_reporting']",
            run: "click",
        },
        {
            content: "Open the return on rules",
            trigger: ".dropdown-item[data-menu-xmlid='customer_pulse.menu_rule_return']",
            run: "click",
        },
        {
            content: "The rule has a line",
            trigger: ".o_pivot tbody tr th:contains('Tour return rule')",
        },
        {
            content: "Its fixed cost is counted",
            trigger: ".o_pivot thead th:contains('Cost')",
        },
        {
            content: "Its revenue is shown to a manager",
            trigger: ".o_pivot thead th:contains('Attributed revenue')",
        },
    ],
});
