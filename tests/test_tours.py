from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestTours(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        new_test_user(
            cls.env,
            login="tour_pulse_user",
            password="tour_pulse_user",
            groups="base.group_user,customer_pulse.group_pulse_user",
        )
        cls.env["res.partner"].create({"name": "Tour Customer", "customer_rank": 1})

    def test_open_app(self):
        """A Customer Pulse user opens the app and sees the customer list."""
        self.start_tour("/odoo", "customer_pulse_open_app", login="tour_pulse_user")
