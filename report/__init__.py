# Reports: SQL views (`_auto = False`) over the tables of the stages, the segments' key
# figures (stored with each refresh of their members) and the follow-up report's values.
# Imported after models/ (see the addon's __init__.py): Odoo creates the
# tables of the models in the order they are defined, so each view here is created after
# the tables and columns it reads (facts, memberships, assessments, survey answers).
from . import pulse_report_view
from . import pulse_partner_category_stats
from . import pulse_segment_kpi
from . import pulse_segment_size
from . import pulse_attribute_conflict
from . import pulse_survey_work
from . import pulse_followup_report
from . import pulse_customer_sheet
from . import pulse_stage_conversion
from . import pulse_quote_funnel
from . import pulse_work_done
from . import pulse_rule_return
from . import pulse_segment_revenue
from . import pulse_segment_action_return
