from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from .common import PulseFactsCase


@tagged("post_install", "-at_install")
class TestSegments(PulseFactsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Segment = cls.env["pulse.segment"]
        cls.tag = cls.env["res.partner.category"].create({"name": "VIP"})
        cls.belgium = cls.env.ref("base.be")
        cls.acme = cls.env["res.partner"].create(
            {
                "name": "Acme",
                "is_company": True,
                "country_id": cls.belgium.id,
                "category_id": [Command.link(cls.tag.id)],
                "email": "acme@acme.example",
            }
        )
        cls.acme_buyer = cls.env["res.partner"].create(
            {"name": "Ann", "parent_id": cls.acme.id, "email": "ann@acme.example"}
        )
        cls.solo = cls.env["res.partner"].create({"name": "Solo", "email": "solo@mail.test"})

    def members(self, segment):
        return segment.member_ids.filtered(lambda m: not m.date_left).partner_id

    def test_history_enter_leave_reenter(self):
        segment = self.Segment.create(
            {
                "name": "Lapsed",
                "domain": "[('pulse_last_order_date', '<', (context_today() - "
                "relativedelta(days=365)).strftime('%Y-%m-%d'))]",
            }
        )
        with freeze_time("2026-01-10"):
            self.make_order(self.solo, "2024-06-01")
            self.Facts._refresh_all()
            segment._refresh_members()
            self.assertEqual(self.members(segment), self.solo)
        with freeze_time("2026-02-01"):
            self.make_order(self.solo, "2026-02-01")  # won back
            self.Facts._refresh_queue()
            entered, left = segment._refresh_members()[segment]
            self.assertEqual((entered, left), (0, 1))
            self.assertFalse(self.members(segment))
        with freeze_time("2027-03-01"):
            self.Facts._refresh_all()  # a year without orders again
            self.assertEqual(segment._refresh_members()[segment], (1, 0))
            self.assertEqual(segment._refresh_members()[segment], (0, 0))  # idempotent
        stays = segment.member_ids.sorted("date_entered")
        self.assertEqual(len(stays), 2)
        self.assertEqual(str(stays[0].date_entered.date()), "2026-01-10")
        self.assertEqual(str(stays[0].date_left.date()), "2026-02-01")
        self.assertEqual(str(stays[1].date_entered.date()), "2027-03-01")
        self.assertFalse(stays[1].date_left)
        self.assertIn(segment, self.solo.pulse_segment_ids)
        self.assertIn(
            self.solo, self.env["res.partner"].search([("pulse_segment_ids", "in", segment.ids)])
        )

    def test_sql_refresh_equals_orm_search(self):
        self.make_order(self.acme_buyer, "2026-01-10")
        self.make_order(self.acme_buyer, "2026-02-10")
        self.make_order(self.solo, "2025-01-10")
        self.Facts._refresh_all()
        domains = [
            [("pulse_order_count", ">=", 2)],
            [("pulse_category_ids", "in", self.product.categ_id.ids)],
            [("category_id", "in", self.tag.ids)],
            ["|", ("country_id", "=", self.belgium.id), "!", ("email", "ilike", "acme")],
            [("id", "child_of", self.acme.id)],
            ["&", ("pulse_last_order_date", "!=", False), ("is_company", "=", False)],
            [("user_id", "=", False), ("pulse_rfm_segment", "!=", False)],
        ]
        for domain in domains:
            segment = self.Segment.create({"name": str(domain), "domain": str(domain)})
            segment._refresh_members()
            expected = self.env["res.partner"].search(domain).commercial_partner_id
            self.assertEqual(self.members(segment), expected, domain)
            self.assertEqual(segment.member_count, len(expected))

    def test_static_segment(self):
        segment = self.Segment.create(
            {
                "name": "Hand-picked",
                "kind": "static",
                "static_partner_ids": [Command.set((self.acme | self.solo).ids)],
            }
        )
        segment._refresh_members()
        self.assertEqual(self.members(segment), self.acme | self.solo)
        segment.static_partner_ids = [Command.unlink(self.solo.id)]
        self.assertEqual(segment._refresh_members()[segment], (0, 1))
        self.assertEqual(self.members(segment), self.acme)

    def test_invalid_domains_refused(self):
        for bad in (
            "[('no_such_field', '=', 1)]",
            "[('name', 'resembles', 'x')]",
            "[('name', '=', ",
            "{'name': 1}",
        ):
            with self.assertRaises(ValidationError, msg=bad):
                self.Segment.create({"name": "Bad", "domain": bad})

    def test_broken_segment_marked_in_error_others_go_on(self):
        broken = self.Segment.create({"name": "Will break", "domain": "[('name', '=', 'Solo')]"})
        healthy = self.Segment.create({"name": "Healthy", "domain": "[('name', '=', 'Acme')]"})
        broken._refresh_members()
        self.assertEqual(self.members(broken), self.solo)
        # a field used by the filter disappears (a module uninstalled)
        self.env.cr.execute(
            "UPDATE pulse_segment SET domain = %s WHERE id = %s",
            ["[('x_removed_field', '=', 1)]", broken.id],
        )
        broken.invalidate_recordset()
        (broken | healthy)._refresh_safely()
        self.assertEqual(broken.refresh_state, "error")
        self.assertIn("x_removed_field", broken.refresh_error)
        self.assertEqual(self.members(broken), self.solo, "previous membership kept")
        self.assertEqual(healthy.refresh_state, "ok")
        self.assertEqual(self.members(healthy), self.acme)
        with self.assertRaises(UserError):
            broken.action_refresh()

    def test_lapsed_setting_drives_shipped_segment(self):
        lapsed = self.env.ref("customer_pulse.segment_lapsed")
        with freeze_time("2026-06-15"):
            self.make_order(self.solo, "2025-12-01")  # 196 days ago
            self.Facts._refresh_all()
            lapsed._refresh_members()
            self.assertNotIn(self.solo, self.members(lapsed))
            self.env["ir.config_parameter"].set_param("customer_pulse.lapsed_days", 180)
            lapsed._refresh_members()
            self.assertIn(self.solo, self.members(lapsed))

    def test_shipped_segments(self):
        shipped = self.Segment.search([("is_builtin", "=", True)])
        self.assertGreaterEqual(len(shipped), 7)
        shipped._refresh_safely()
        self.assertEqual(set(shipped.mapped("refresh_state")), {"ok"})
        with self.assertRaises(UserError):
            shipped[0].unlink()

    def test_access(self):
        segment = self.Segment.with_user(self.pulse_marketer).create(
            {"name": "Belgians", "domain": f"[('country_id', '=', {self.belgium.id})]"}
        )
        segment.action_refresh()
        self.assertEqual(self.members(segment), self.acme)  # Ann (a contact) brings in Acme
        as_user = segment.with_user(self.pulse_user)
        self.assertEqual(as_user.member_count, 1)
        with self.assertRaises(AccessError):
            as_user.write({"name": "Mine"})
        with self.assertRaises(AccessError):
            as_user.action_refresh()
        with self.assertRaises(AccessError):
            self.Segment.with_user(self.portal_user).search([])
        company_b = self.env["res.company"].create({"name": "Segments B"})
        # a segment runs with its responsible's companies: B's is someone of company B
        b_marketer = self.make_user("b_marketer", "marketer", companies=company_b)
        with self.assertRaises(ValidationError):
            self.Segment.create({"name": "B only", "company_id": company_b.id})
        other = self.Segment.create(
            {"name": "B only", "company_id": company_b.id, "user_id": b_marketer.id}
        )
        self.assertNotIn(other, self.Segment.with_user(self.pulse_user).search([]))
