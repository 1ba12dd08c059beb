/** @odoo-module **/

import { registry } from "@web/core/registry";
import { download } from "@web/core/network/download";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

const { DateTime } = luxon;

// The accountant works the follow-ups of the day: one customer promises to pay (recorded),
// another gets the reminder now, and the accountant prints that customer's follow-up report.
let realDownload;

registry.category("web_tour.tours").add("customer_pulse_followup", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("customer_pulse.menu_root", "Open the Customer Pulse app"),
        {
            content: "Open the Follow-ups menu",
            trigger: ".o_main_navbar [data-menu-xmlid='customer_pulse.menu_followups']",
            run: "click",
        },
        {
            content: "Open the customers to follow up",
            trigger: ".dropdown-item[data-menu-xmlid='customer_pulse.menu_followup_customers']",
            run: "click",
        },
        {
            content: "Both customers need action today",
            trigger: ".o_list_view .o_data_row:contains('Tour Reminder Co')",
        },
        {
            content: "Open the customer who promises to pay",
            trigger: ".o_list_view .o_data_row td:contains('Tour Promise Co')",
            run: "click",
        },
        {
            content: "Record a promise",
            trigger: ".o_form_view .o_form_statusbar button[name='action_record_promise']",
            run: "click",
        },
        {
            content: "Pays in a week",
            trigger: ".modal .o_field_widget[name='date'] input",
            run: `edit ${DateTime.now().plus({ days: 7 }).toFormat("MM/dd/yyyy")}`,
        },
        {
            content: "Half of it",
            trigger: ".modal .o_field_widget[name='amount'] input",
            run: "edit 150",
        },
        {
            content: "What the customer said",
            trigger: ".modal .o_field_widget[name='note'] textarea",
            run: "edit Promised on the phone by the controller",
        },
        {
            content: "Save the promise",
            trigger: ".modal .modal-footer .o_form_button_save",
            run: "click",
        },
        {
            content: "The reminders wait for the promise",
            trigger:
                ".o_form_view .o_statusbar_status .o_arrow_button_current:contains('Promise to pay')",
        },
        {
            content: "Back to the list",
            trigger: ".o_breadcrumb .breadcrumb-item a",
            run: "click",
        },
        {
            content: "Open the customer to remind",
            trigger: ".o_list_view .o_data_row td:contains('Tour Reminder Co')",
            run: "click",
        },
        {
            content: "Send the reminder now",
            trigger: ".o_form_view .o_form_statusbar button[name='action_send_now']",
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "The reminder went out",
            trigger: ".o_notification:contains('reminder(s) sent')",
        },
        {
            content: "The customer waits for the next level",
            trigger: ".o_form_view .o_statusbar_status .o_arrow_button_current:contains('Waiting')",
        },
        {
            content: "It is in the customer's reminders",
            trigger: ".o_form_view .o_notebook .nav-link:contains('Reminders')",
            run: "click",
        },
        {
            content: "Sent, by email",
            trigger: ".o_field_widget[name='event_ids'] .o_data_row:contains('Sent'):contains('email')",
            run() {
                // note when the report's download is over (the file itself goes to the
                // browser's downloads)
                realDownload = download._download;
                download._download = async (options) => {
                    await realDownload(options);
                    document.body.classList.add("o_pulse_report_downloaded");
                };
            },
        },
        {
            content: "Print the follow-up report",
            trigger: ".o_form_view .o_form_statusbar button[name='action_print_letter']",
            run: "click",
        },
        {
            content: "The report was downloaded",
            trigger: "body.o_pulse_report_downloaded",
            run() {
                download._download = realDownload;
                document.body.classList.remove("o_pulse_report_downloaded");
            },
        },
    ],
});
