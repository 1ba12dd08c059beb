from odoo import models
from odoo.tools import SQL


class PulseReportView(models.AbstractModel):
    """A report read from an SQL query, built like Odoo's sale.report: the query in parts,
    each an SQL object — `_select()` and `_from()`, and where they apply `_with()`,
    `_where()`, `_group_by()`, `_having()` — put together by `_query()`, which the ORM reads
    as the model's table (`_table_query`). No database view: an update creates nothing and
    locks nothing, and a column a report reads can change type without a view in the way.

    A report: `_name = "pulse.<report>"`, `_inherit = "pulse.report.view"`, `_auto = False`,
    its fields (one per column of `_select()`), its parts."""

    _name = "pulse.report.view"
    _description = "Report read from an SQL view"
    _auto = False

    def _with(self):
        return SQL()

    def _select(self):
        raise NotImplementedError(self._name)

    def _from(self):
        raise NotImplementedError(self._name)

    def _where(self):
        return SQL()

    def _group_by(self):
        return SQL()

    def _having(self):
        return SQL()

    def _query(self):
        return SQL(" ").join(
            [
                self._with(),
                self._select(),
                self._from(),
                self._where(),
                self._group_by(),
                self._having(),
            ]
        )

    @property
    def _table_query(self):
        return self._query()
