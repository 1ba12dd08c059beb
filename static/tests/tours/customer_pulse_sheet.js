/** @odoo-module **/

import { registry } from "@web/core/registry";
import { download } from "@web/core/network/download";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A salesperson opens a customer from the app's contacts, finds the customer sheet on the
// pulse card and in the form's Print menu, and prints it.
let realDownload;

registry.category("web_tour.tours").add("customer_pulse_sheet", {
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
            trigger: ".o_list_view .o_data_row td:contains('Tour Sheet Customer')",
            run: "click",
        },
        {
            content: "The pulse card offers the customer sheet",
            trigger: ".o_pulse_card button.o_pulse_sheet_button:contains('Customer sheet')",
        },
        {
            content: "Open the form's actions",
            trigger: ".o_control_panel .o_cp_action_menus button:has(.fa-cog)",
            async run(helpers) {
                // note when the report's download is over (the file itself goes to the
                // browser's downloads)
                realDownload = download._download;
                download._download = async (options) => {
                    await realDownload(options);
                    document.body.classList.add("o_pulse_sheet_downloaded");
                };
                await helpers.click();
            },
        },
        {
            content: "Print the customer sheet",
            trigger: ".o-dropdown--menu .o_menu_item:contains('Customer sheet')",
            run: "click",
        },
        {
            content: "The sheet was downloaded",
            trigger: "body.o_pulse_sheet_downloaded",
            run() {
                download._download = realDownload;
                document.body.classList.remove("o_pulse_sheet_downloaded");
            },
        },
    ],
});
