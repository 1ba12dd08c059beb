/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A marketer builds a segment with the domain editor ("Confirmed orders = 1"), refreshes it
// and opens its members.
registry.category("web_tour.tours").add("customer_pulse_segment", {
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
            content: "The shipped segments are listed",
            trigger: ".o_list_view .o_data_row td:contains('No purchase for over a year')",
        },
        {
            content: "Create a segment",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_form_view .o_field_widget[name='name'] input",
            run: "edit One-order customers",
        },
        {
            content: "Add a rule to its filter",
            trigger: ".o_form_view .o_field_widget[name='domain'] a:contains('New Rule')",
            run: "click",
        },
        {
            content: "Open the field of the rule",
            trigger: ".o_form_view .o_field_widget[name='domain'] .o_tree_editor_condition .o_model_field_selector",
            run: "click",
        },
        {
            content: "Look for the customer fact",
            trigger: ".o_model_field_selector_popover_search input",
            run: "edit Confirmed orders",
        },
        {
            content: "Choose Confirmed orders",
            trigger: ".o_model_field_selector_popover_item[data-name='pulse_order_count'] button",
            run: "click",
        },
        {
            content: "The rule is on the number of confirmed orders",
            trigger: ".o_form_view .o_field_widget[name='domain'] .o_model_field_selector:contains('Confirmed orders')",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Refresh it",
            trigger: ".o_form_view .o_form_saved button[name='action_refresh']",
            run: "click",
        },
        {
            content: "It is up to date",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Up to date')",
        },
        {
            content: "Its key figures are shown",
            trigger: ".o_form_view .o_field_widget[name='kpi_avg_order_value']",
        },
        {
            content: "Open its two members",
            trigger: ".o_form_view button[name='action_open_members']:contains('2')",
            run: "click",
        },
        {
            content: "The customer with one order is listed",
            trigger: ".o_list_view .o_data_row:contains('Lapsed Tour Customer')",
        },
    ],
});
