{
    "name": "Customer Pulse",
    "version": "18.0.1.0.0",
    "category": "Marketing",
    "summary": "Customer intelligence from your own sales, invoices and payments: "
    "facts, segments, re-engagement rules, profiling and follow-ups",
    "author": "Customer Pulse",
    "website": "https://github.com/customer-pulse/customer_pulse",
    "license": "LGPL-3",
    "depends": [
        "sale_management",
        "account",
        "crm",
        "survey",
        "mass_mailing",
        "sms",
    ],
    "data": [
        "security/customer_pulse_groups.xml",
        "security/ir.model.access.csv",
        "security/customer_pulse_rules.xml",
        "data/ir_cron_data.xml",
        "views/pulse_partner_stats_views.xml",
        "views/pulse_partner_category_stats_views.xml",
        "views/res_partner_views.xml",
        "views/sale_order_views.xml",
        "views/account_move_views.xml",
        "views/res_config_settings_views.xml",
        "views/customer_pulse_menus.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "customer_pulse/static/tests/tours/**/*",
        ],
    },
    "post_init_hook": "post_init_hook",
    "application": True,
    "installable": True,
}
