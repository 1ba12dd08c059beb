/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A manager opens Odoo's Dashboards app, picks the Customer Pulse dashboard, sees its
// figures drawn and its period filter, then clicks the quotations figure to land in the
// quote funnel behind it.
registry.category("web_tour.tours").add("customer_pulse_dashboard", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps(
            "spreadsheet_dashboard.spreadsheet_dashboard_menu_root",
            "Open the Dashboards app"
        ),
        {
            content: "Open the Customer Pulse dashboard",
            trigger: ".o_search_panel_category_value[data-name='Customer Pulse']",
            run: "click",
        },
        {
            content: "The dashboard is the active one",
            trigger: ".o_search_panel_category_value.active[data-name='Customer Pulse']",
        },
        {
            content: "The spreadsheet is drawn with its lapsed customers figure",
            trigger: ".o-spreadsheet .o-figure canvas.o-scorecard[title='Lapsed customers']",
        },
        {
            content: "and the work done chart",
            trigger: ".o-spreadsheet .o-figure canvas.o-figure-canvas:not(.o-scorecard)",
        },
        {
            content: "The period filter is offered",
            trigger: ".o_control_panel .o-filter-value[title='Period']",
        },
        {
            content: "Click the quotations figure",
            trigger: ".o-figure:has(canvas.o-scorecard[title='Quotations issued'])",
            run: "click",
        },
        {
            content: "The quote funnel opens",
            trigger: ".o_breadcrumb:contains('Quote funnel')",
        },
    ],
});
