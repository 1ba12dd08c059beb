from odoo import models


class SaleOrder(models.Model):
    # the pulse strip on the order form
    _name = "sale.order"
    _inherit = ["sale.order", "pulse.strip.mixin"]

    def action_confirm(self):
        result = super().action_confirm()
        # rules triggered by a confirmed order (or exiting on purchase) react now
        # sudo: rules are the marketers'; the salesperson's order only wakes the engine
        self.env["pulse.rule.engine"].sudo()._wake_up_for(
            ("order_confirmed",), always_if_running=True
        )
        return result

    def _action_confirm(self):
        result = super()._action_confirm()
        # sudo: confirming an order hands it to finance; the salesperson who confirms cannot
        # create finance's items
        self.env["pulse.collection"].sudo()._ensure_for_orders(self)
        return result
