from datetime import timedelta

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestToursWork(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        new_test_user(
            cls.env,
            login="tour_work_manager",
            password="tour_work_manager",
            groups="base.group_user,customer_pulse.group_pulse_manager",
        )
        seller = new_test_user(
            cls.env,
            login="tour_work_seller",
            name="Tour Seller",
            groups="base.group_user,customer_pulse.group_pulse_user",
        )
        customer = cls.env["res.partner"].create(
            {"name": "Tour Funnel Co", "email": "buyer@tourfunnel.example"}
        )
        product = cls.env["product.product"].create({"name": "Tour funnel widget"})
        orders = cls.env["sale.order"].create(
            [
                {
                    "partner_id": customer.id,
                    "user_id": seller.id,
                    "order_line": [Command.create({"product_id": product.id, "price_unit": 50})],
                }
                for _n in range(3)
            ]
        )
        orders[0].action_confirm()
        # calls completed by the seller: one this month, one the month before
        for _n in range(2):
            activity = customer.activity_schedule("mail.mail_activity_data_call", user_id=seller.id)
            activity.with_user(seller).action_feedback(feedback="Called")
        cls.env.flush_all()
        last_month = fields.Datetime.now() - timedelta(days=31)
        cls.env.cr.execute(
            """
            UPDATE mail_message SET date = %s
             WHERE id = (SELECT MIN(id) FROM mail_message
                          WHERE model = 'res.partner' AND res_id = %s
                            AND mail_activity_type_id IS NOT NULL)
            """,
            [last_month, customer.id],
        )

    def test_manager_reads_funnel_and_work_done(self):
        self.start_tour("/odoo", "customer_pulse_work", login="tour_work_manager")
