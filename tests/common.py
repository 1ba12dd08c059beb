from odoo.tests import new_test_user
from odoo.tests.common import TransactionCase


class PulseCase(TransactionCase):
    """Shared set-up: one user per Customer Pulse group, a portal user, a customer."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.pulse_user = new_test_user(
            cls.env, login="pulse_user", groups="base.group_user,customer_pulse.group_pulse_user"
        )
        cls.pulse_marketer = new_test_user(
            cls.env,
            login="pulse_marketer",
            groups="base.group_user,customer_pulse.group_pulse_marketer",
        )
        cls.pulse_accountant = new_test_user(
            cls.env,
            login="pulse_accountant",
            groups="base.group_user,customer_pulse.group_pulse_accountant",
        )
        cls.pulse_manager = new_test_user(
            cls.env,
            login="pulse_manager",
            groups="base.group_user,customer_pulse.group_pulse_manager",
        )
        cls.internal_user = new_test_user(cls.env, login="plain_user", groups="base.group_user")
        cls.portal_user = new_test_user(cls.env, login="portal_user", groups="base.group_portal")
        cls.customer = cls.env["res.partner"].create(
            {"name": "Tour Customer", "customer_rank": 1, "email": "tour@customer.example"}
        )
