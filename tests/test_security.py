from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import PulseCase


@tagged("post_install", "-at_install")
class TestSecurity(PulseCase):
    def _visible_menus(self, user):
        return self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()

    def test_group_chain(self):
        """Each group implies the one below it and the Odoo groups it needs."""
        self.assertTrue(self.pulse_manager.has_group("customer_pulse.group_pulse_marketer"))
        self.assertTrue(self.pulse_manager.has_group("customer_pulse.group_pulse_accountant"))
        self.assertTrue(self.pulse_manager.has_group("sales_team.group_sale_manager"))
        self.assertTrue(self.pulse_marketer.has_group("customer_pulse.group_pulse_user"))
        self.assertTrue(self.pulse_marketer.has_group("mass_mailing.group_mass_mailing_user"))
        self.assertTrue(self.pulse_marketer.has_group("survey.group_survey_user"))
        self.assertFalse(self.pulse_marketer.has_group("account.group_account_invoice"))
        self.assertTrue(self.pulse_accountant.has_group("account.group_account_invoice"))
        self.assertFalse(self.pulse_accountant.has_group("customer_pulse.group_pulse_marketer"))
        self.assertTrue(self.pulse_user.has_group("sales_team.group_sale_salesman"))
        self.assertFalse(self.pulse_user.has_group("customer_pulse.group_pulse_manager"))

    def test_app_menu_per_group(self):
        root = self.env.ref("customer_pulse.menu_root")
        customers = self.env.ref("customer_pulse.menu_customers")
        settings = self.env.ref("customer_pulse.menu_settings")
        for user in (self.pulse_user, self.pulse_marketer, self.pulse_accountant):
            menus = self._visible_menus(user)
            self.assertIn(root.id, menus, user.login)
            self.assertIn(customers.id, menus, user.login)
            self.assertNotIn(settings.id, menus, user.login)
        # Settings are Odoo's administrators' (res.config.settings is theirs alone).
        self.assertNotIn(settings.id, self._visible_menus(self.pulse_manager))
        self.assertIn(settings.id, self._visible_menus(self.env.ref("base.user_admin")))
        self.assertNotIn(root.id, self._visible_menus(self.internal_user))
        with self.assertRaises(AccessError):
            self.env["ir.ui.menu"].with_user(self.portal_user).search([("id", "=", root.id)])

    def test_customers_action_opens_for_users(self):
        for user in (self.pulse_user, self.pulse_marketer, self.pulse_accountant):
            partners = self.env["res.partner"].with_user(user).search([("customer_rank", ">", 0)])
            self.assertIn(self.customer, partners)
            # what the web client does when the menu is clicked
            for xmlid, model in (
                ("customer_pulse.action_pulse_partner_stats", "pulse.partner.stats"),
                ("customer_pulse.action_pulse_contacts", "res.partner"),
            ):
                action = self.env["ir.actions.actions"].with_user(user)._for_xml_id(xmlid)
                self.assertEqual(action["res_model"], model)
                self.env[model].with_user(user).search([], limit=1)

    def test_settings_only_for_administrators(self):
        admin = self.env.ref("base.user_admin")
        settings = (
            self.env["res.config.settings"]
            .with_user(admin)
            .create({"pulse_rfm_window_days": 180, "pulse_lapsed_days": 400})
        )
        settings.execute()
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(params.get_param("customer_pulse.rfm_window_days"), "180")
        self.assertEqual(params.get_param("customer_pulse.lapsed_days"), "400")
        with self.assertRaises(AccessError):
            self.env["res.config.settings"].with_user(self.pulse_manager).create({})

    def test_portal_reads_no_pulse_model(self):
        own_models = self.env["ir.model"].browse(
            self.env["ir.model.data"]
            .search([("module", "=", "customer_pulse"), ("model", "=", "ir.model")])
            .mapped("res_id")
        )
        pulse_models = own_models.filtered(
            lambda m: not m.transient and m.model.startswith("pulse.")
        )
        self.assertTrue(pulse_models)
        for model in pulse_models:
            with self.assertRaises(AccessError, msg=model.model):
                self.env[model.model].with_user(self.portal_user).search([])
