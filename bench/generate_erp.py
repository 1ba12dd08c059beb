"""Bulk ERP history for benchmarks, written straight into Odoo's real tables with SQL.

SCALE=100k: 100,000 customers and 500,000 sale orders; SCALE=1m: 1,000,000 and 5,000,000,
with one or two order lines each over 40 products in 8 categories.
About 92% of orders are confirmed, 4% cancelled, 4% quotations; confirmed orders older than
three days are invoiced (out_invoice posted, due 30 days later), 3% of invoices are refunded,
and invoices whose due date plus a customer-specific delay has passed are paid (residual 0 and
an account_payment row); the rest are open, some overdue. Deterministic (setseed).
Usage: python bench/generate_erp.py DBNAME SCALE
"""

import sys
import time

from odoo_env import environment

SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


def generate(env, customers):
    cr = env.cr
    orders = customers * 5
    cr.execute("SELECT id, currency_id FROM res_company ORDER BY id LIMIT 1")
    company_id, currency_id = cr.fetchone()
    cr.execute("SELECT id FROM account_journal WHERE type = 'sale' ORDER BY id LIMIT 1")
    sale_journal = cr.fetchone()[0]
    cr.execute("SELECT id FROM account_journal WHERE type = 'bank' ORDER BY id LIMIT 1")
    bank_journal = cr.fetchone()[0]
    categories = env["product.category"].create([{"name": f"Bench range {i}"} for i in range(8)])
    products = env["product.product"].create(
        [
            {"name": f"Bench product {i}", "categ_id": categories[i % 8].id, "list_price": 10}
            for i in range(40)
        ]
    )
    env.flush_all()
    cr.execute("SELECT setseed(0.42)")
    steps = [
        (
            "partners",
            """
            CREATE TEMP TABLE bench_partner AS
            SELECT nextval('res_partner_id_seq') AS id, g AS n,
                   (random() * 60)::int AS pay_delay
              FROM generate_series(1, %(customers)s) g;
            INSERT INTO res_partner (id, name, complete_name, commercial_partner_id, active,
                   is_company, customer_rank, supplier_rank, type, autopost_bills, lang,
                   company_id, create_date, write_date, create_uid, write_uid)
            SELECT id, 'Bench customer ' || n, 'Bench customer ' || n, id, true, true, 1, 0,
                   'contact', 'ask', 'en_US', NULL, now(), now(), 1, 1
              FROM bench_partner;
            CREATE INDEX ON bench_partner (n);
            ANALYZE bench_partner;
            """,
        ),
        (
            "sale orders",
            """
            CREATE TEMP TABLE bench_order AS
            SELECT nextval('sale_order_id_seq') AS id, p.id AS partner_id, p.pay_delay,
                   (now() AT TIME ZONE 'UTC') - power(random(), 1.3) * 1095 * interval '1 day'
                       AS date_order,
                   round((50 + random() * 1950)::numeric, 2) AS amount,
                   CASE WHEN r < 0.92 THEN 'sale' WHEN r < 0.96 THEN 'cancel' ELSE 'draft' END
                       AS state
              FROM (SELECT g, random() AS r,
                           1 + floor(power(random(), 1.6) * %(customers)s)::int AS pn
                      FROM generate_series(1, %(orders)s) g) o
              JOIN bench_partner p ON p.n = o.pn;
            INSERT INTO sale_order (id, name, partner_id, partner_invoice_id, partner_shipping_id,
                   company_id, date_order, state, amount_untaxed, amount_tax, amount_total,
                   currency_id, currency_rate, invoice_status, user_id, create_date, write_date,
                   create_uid, write_uid)
            SELECT id, 'BS' || id, partner_id, partner_id, partner_id, %(company)s, date_order,
                   state, amount, round(amount * 0.2, 2), round(amount * 1.2, 2),
                   %(currency)s, 1.0, CASE WHEN state = 'sale' THEN 'invoiced' ELSE 'no' END,
                   1, date_order, date_order, 1, 1
              FROM bench_order;
            """,
        ),
        (
            "sale order lines",
            """
            INSERT INTO sale_order_line (order_id, product_id, name, product_uom_qty,
                   price_unit, price_subtotal, price_total, company_id, currency_id,
                   order_partner_id, state, customer_lead, create_date, write_date,
                   create_uid, write_uid)
            SELECT o.id, (%(products)s)[1 + floor(random() * 40)::int], 'Bench line', 1,
                   round(o.amount / n, 2), round(o.amount / n, 2), round(o.amount * 1.2 / n, 2),
                   %(company)s, %(currency)s, o.partner_id, o.state, 0, o.date_order,
                   o.date_order, 1, 1
              FROM (SELECT *, 1 + (id %% 2) AS n FROM bench_order) o,
                   LATERAL generate_series(1, o.n) l;
            """,
        ),
        (
            "invoices and refunds",
            """
            CREATE TEMP TABLE bench_move AS
            SELECT nextval('account_move_id_seq') AS id, o.partner_id, o.amount,
                   o.date_order::date AS day, o.date_order::date + 30 AS due,
                   CASE WHEN random() < 0.03 THEN 'out_refund' ELSE 'out_invoice' END
                       AS move_type,
                   o.date_order::date + 30 + o.pay_delay - 20 < current_date AS paid
              FROM bench_order o
             WHERE o.state = 'sale' AND o.date_order < now() - interval '3 days';
            INSERT INTO account_move (id, name, move_type, state, partner_id,
                   commercial_partner_id, company_id, journal_id, currency_id, date,
                   invoice_date, invoice_date_due, amount_untaxed, amount_tax, amount_total,
                   amount_residual, amount_untaxed_signed, amount_tax_signed, amount_total_signed,
                   amount_total_in_currency_signed, amount_residual_signed,
                   amount_untaxed_in_currency_signed, payment_state, auto_post,
                   create_date, write_date, create_uid, write_uid)
            SELECT id, 'BINV/' || id, move_type, 'posted', partner_id, partner_id,
                   %(company)s, %(sale_journal)s, %(currency)s, day, day, due, amount,
                   round(amount * 0.2, 2), round(amount * 1.2, 2),
                   CASE WHEN paid THEN 0 ELSE round(amount * 1.2, 2) END,
                   s * amount, s * round(amount * 0.2, 2), s * round(amount * 1.2, 2),
                   s * round(amount * 1.2, 2),
                   CASE WHEN paid THEN 0 ELSE s * round(amount * 1.2, 2) END,
                   s * amount,
                   CASE WHEN paid THEN 'paid' ELSE 'not_paid' END, 'no',
                   day, day, 1, 1
              FROM (SELECT *, CASE WHEN move_type = 'out_refund' THEN -1 ELSE 1 END AS s
                      FROM bench_move) m;
            """,
        ),
        (
            "payments",
            """
            INSERT INTO account_payment (name, company_id, date, journal_id, partner_type,
                   payment_type, state, partner_id, amount, amount_company_currency_signed,
                   currency_id, create_date, write_date, create_uid, write_uid)
            SELECT 'BPAY/' || id, %(company)s, LEAST(due + 10, current_date), %(bank_journal)s,
                   'customer', 'inbound', 'paid', partner_id, round(amount * 1.2, 2),
                   round(amount * 1.2, 2), %(currency)s, day, day, 1, 1
              FROM bench_move WHERE paid AND move_type = 'out_invoice';
            """,
        ),
    ]
    params = {
        "customers": customers,
        "orders": orders,
        "company": company_id,
        "currency": currency_id,
        "sale_journal": sale_journal,
        "bank_journal": bank_journal,
        "products": products.ids,
    }
    # Bulk load: no per-row triggers (foreign keys and the facts queue); the data is
    # consistent by construction and the benchmark starts from an empty queue.
    cr.execute("SET session_replication_role = replica")
    for label, sql in steps:
        start = time.monotonic()
        cr.execute(sql, params)
        print(f"  {label}: {time.monotonic() - start:.1f} s", flush=True)
    cr.execute("SET session_replication_role = DEFAULT")
    cr.commit()


def main(dbname, scale):
    with environment(dbname) as env:
        generate(env, SCALES[scale])
        env.cr.commit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
