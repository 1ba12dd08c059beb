/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A marketer builds a two-step win-back rule, previews it and switches it on.
registry.category("web_tour.tours").add("customer_pulse_rule", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("customer_pulse.menu_root", "Open the Customer Pulse app"),
        {
            content: "Open the Rules menu",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_rules_root']",
            run: "click",
        },
        {
            content: "Open the list of rules",
            trigger: ".dropdown-item[data-menu-xmlid='customer_pulse.menu_rules']",
            run: "click",
        },
        {
            content: "The shipped win-back rule is there",
            trigger: ".o_list_view .o_data_row td:contains('Win back customers')",
        },
        {
            content: "Create a rule",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_form_view .o_field_widget[name='name'] input",
            run: "edit Come back, please",
        },
        {
            content: "Customers enter when they have not bought for a while",
            trigger: ".o_form_view .o_field_widget[name='trigger'] select",
            run: 'select "no_purchase"',
        },
        {
            content: "Add the first step",
            trigger: ".o_field_widget[name='step_ids'] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            content: "Name the email step",
            trigger: ".modal .o_field_widget[name='name'] input",
            run: "edit Win-back email",
        },
        {
            content: "Choose its template",
            trigger: ".modal .o_field_widget[name='mail_template_id'] input",
            run: "edit we miss you",
        },
        {
            content: "Pick the shipped template",
            trigger: ".o-autocomplete--dropdown-item:contains('we miss you')",
            run: "click",
        },
        {
            content: "Save it and add another",
            trigger: ".modal .modal-footer button:contains('Save & New')",
            run: "click",
        },
        {
            content: "The email step is in the chain",
            trigger: ".o_field_widget[name='step_ids'] .o_data_row:contains('Win-back email')",
        },
        {
            content: "Name the call step",
            trigger: ".modal .o_field_widget[name='name'] input",
            run: "edit Call them",
        },
        {
            content: "A week later",
            trigger: ".modal .o_field_widget[name='delay'] input",
            run: "edit 7",
        },
        {
            content: "It is an activity",
            trigger: ".modal .o_field_widget[name='action'] select",
            run: 'select "activity"',
        },
        {
            content: "A call",
            trigger: ".modal .o_field_widget[name='activity_type_id'] input",
            run: "edit Call",
        },
        {
            content: "Pick Call",
            trigger: ".o-autocomplete--dropdown-item a:contains('Call')",
            run: "click",
        },
        {
            content: "Save the step",
            trigger: ".modal .modal-footer button:contains('Save & Close')",
            run: "click",
        },
        {
            content: "The chain reads well",
            trigger: ".o_field_widget[name='step_ids'] .o_data_row:contains('7 days after entering')",
        },
        {
            content: "Save the rule",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Preview it",
            trigger: ".o_form_view .o_form_saved button[name='action_preview']",
            run: "click",
        },
        {
            content: "One lapsed customer would enter, and the email is shown",
            trigger: ".modal:contains('customers would enter now') .o_field_widget[name='sample_html']:contains('while since your last order')",
        },
        {
            content: "Close the preview",
            trigger: ".modal .modal-footer button:contains('Close')",
            run: "click",
        },
        {
            content: "Switch it on",
            trigger: ".o_form_view button[name='action_start']",
            run: "click",
        },
        {
            content: "It is running",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Running')",
        },
    ],
});
