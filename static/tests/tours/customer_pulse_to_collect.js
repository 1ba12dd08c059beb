/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// An accountant opens Follow-ups > To collect, groups the items by expected week and opens one.
registry.category("web_tour.tours").add("customer_pulse_to_collect", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("customer_pulse.menu_root", "Open the Customer Pulse app"),
        {
            content: "Open the follow-ups menu",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_followups']",
            run: "click",
        },
        {
            content: "Open what is to collect",
            trigger: ".dropdown-item[data-menu-xmlid='customer_pulse.menu_to_collect']",
            run: "click",
        },
        {
            content: "The confirmed orders are listed, with what is due",
            trigger: ".o_list_view .o_data_row:contains('Tour Collect Co') td[name='amount_due_company']",
        },
        {
            content: "Open the search options",
            trigger: ".o_control_panel .o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Group by expected payment date",
            trigger: ".o_group_by_menu button.o_menu_item:contains('Expected week')",
            run: "click",
        },
        {
            content: "... by week",
            trigger:
                ".o_group_by_menu button.o_menu_item:contains('Expected week') + * .dropdown-item:contains('Week')",
            run: "click",
        },
        {
            content: "The list is grouped by week",
            trigger: ".o_searchview_facet:contains('Expected week')",
        },
        {
            content: "Close the search options",
            trigger: ".o_control_panel .o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Unfold the first week",
            trigger: ".o_list_view .o_group_header:first",
            run: "click",
        },
        {
            content: "Open the partly paid item",
            trigger:
                ".o_list_view .o_data_row:contains('Partly paid') td[name='partner_id']:contains('Tour Collect Co')",
            run: "click",
        },
        {
            content: "The item shows its order, status and amounts",
            trigger: ".o_form_view .o_statusbar_status .o_arrow_button_current:contains('Partly paid')",
        },
        {
            content: "What is still due",
            trigger: ".o_form_view .o_field_widget[name='amount_due']:contains('600')",
        },
        {
            content: "Back to the list",
            trigger: ".o_control_panel .breadcrumb-item a:contains('To collect')",
            run: "click",
        },
        {
            content: "Stop grouping by week",
            trigger: ".o_searchview_facet:contains('Expected week') .o_facet_remove",
            run: "click",
        },
        {
            content: "The kanban by status",
            trigger: ".o_control_panel .o_switch_view.o_kanban",
            run: "click",
        },
        {
            content: "The item is in its status column",
            trigger: ".o_kanban_group:contains('Partly paid') .o_kanban_record:contains('Tour Collect Co')",
        },
        {
            content: "The pivot by customer and expected week",
            trigger: ".o_control_panel .o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "The customer's row",
            trigger: ".o_pivot th:contains('Tour Collect Co')",
        },
    ],
});
