/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A customer answers the "How was your first order?" survey in the browser.
registry.category("web_tour.tours").add("customer_pulse_survey_answer", {
    steps: () => [
        {
            content: "Start the survey",
            trigger: 'button.btn:contains("Start")',
            run: "click",
        },
        {
            content: "Very satisfied",
            trigger: 'div.js_question-wrapper:contains("How satisfied") label:contains("Very satisfied")',
            run: "click",
        },
        {
            content: "Suggest something",
            trigger: 'div.js_question-wrapper:contains("What could we do better") textarea',
            run: "edit Deliver on Saturdays",
        },
        {
            content: "Submit",
            trigger: 'button[value="finish"]',
            run: "click",
        },
        {
            content: "Thank you page",
            trigger: 'h1:contains("Thank you")',
        },
    ],
});

// A salesperson opens the customer's profile and the history behind a value.
registry.category("web_tour.tours").add("customer_pulse_profile", {
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
            content: "Open the customer who answered",
            trigger: ".o_list_view .o_data_row td:contains('Survey Tour Co')",
            run: "click",
        },
        {
            content: "Open the profile tab",
            trigger: ".o_notebook .nav-link:contains('Profile')",
            run: "click",
        },
        {
            content: "The survey's satisfaction answer is on the profile",
            trigger: ".o_pulse_profile .o_data_row:contains('Satisfaction'):contains('Very satisfied'):contains('Survey')",
        },
        {
            content: "The suggestion too",
            trigger: ".o_pulse_profile .o_data_row:contains('Deliver on Saturdays')",
        },
        {
            content: "Open the history of the satisfaction",
            trigger: ".o_pulse_profile .o_data_row:contains('Satisfaction') button[name='action_history']",
            run: "click",
        },
        {
            content: "The history lists the earlier assessment and the survey answer",
            trigger: ".o_list_view .o_data_row:contains('Neutral')",
        },
        {
            content: "and the survey answer",
            trigger: ".o_list_view .o_data_row:contains('Very satisfied')",
        },
    ],
});
