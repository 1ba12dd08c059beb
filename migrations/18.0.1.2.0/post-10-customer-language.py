"""The shipped rules' email templates go out in the customer's language (they were written
in English whatever the customer's language): their language is set where it is still empty
(a template a user gave a language of their own keeps it)."""

TEMPLATES = ("mail_template_winback", "mail_template_first_order", "mail_template_interest")


def migrate(cr, version):
    if not version:
        return
    cr.execute(
        """
        UPDATE mail_template t
           SET lang = '{{ object.lang }}'
          FROM ir_model_data d
         WHERE d.module = 'customer_pulse' AND d.model = 'mail.template'
           AND d.name IN %s AND d.res_id = t.id AND COALESCE(t.lang, '') = ''
        """,
        [TEMPLATES],
    )
