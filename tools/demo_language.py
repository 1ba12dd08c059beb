"""The demo in another language (make run LANG=hu_HU): the language loaded for every installed
module, set for the demo's users and the company, and for a share of the demo customers (so
that the shipped emails show going out in each customer's own language)."""

from odoo.exceptions import UserError

# one demo customer in CUSTOMER_SHARE gets the demo's language
CUSTOMER_SHARE = 3


def install(env, code):
    """Load language `code` (an Odoo language code: hu_HU, ru_RU, zh_CN...) and make it the
    demo's; returns the language."""
    Lang = env["res.lang"].with_context(active_test=False)
    lang = Lang.search([("code", "=", code)])
    if not lang:
        known = ", ".join(sorted(Lang.search([]).mapped("code")))
        raise UserError(f"unknown language {code!r}; Odoo knows: {known}")
    # Odoo's own language installer: the language activated, every module's terms loaded
    env["base.language.install"].create(
        {"lang_ids": [(6, 0, lang.ids)], "overwrite": True}
    ).lang_install()
    users = env["res.users"].search([("share", "=", False)])
    users.write({"lang": code})
    env.company.partner_id.lang = code
    customers = env["res.partner"].search(
        [("customer_rank", ">", 0), ("is_company", "=", True)], order="id"
    )
    customers.filtered(lambda p: p.id % CUSTOMER_SHARE == 0).write({"lang": code})
    env["ir.config_parameter"].set_param("customer_pulse.demo_lang", code)
    return lang
