from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        # sudo: the notice is the system telling the salesperson; whoever reconciles (an
        # accountant) need not have rights on the notices nor on the sales order
        self.env["pulse.payment.notice"].sudo()._notice_reconciled(partials)
        return partials

    def unlink(self):
        if not self:
            return super().unlink()
        # sudo: as above; read before the matching is gone
        Notice = self.env["pulse.payment.notice"].sudo()
        undone = Notice._customer_payment_pairs(self.sudo())
        result = super().unlink()
        Notice._notice_unreconciled(undone)
        return result
