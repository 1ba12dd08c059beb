from . import pulse_segment_activity
from . import pulse_rule_preview
from . import pulse_survey_mapping
from . import pulse_conflict_resolve
from . import pulse_survey_interview
from . import pulse_survey_match
from . import pulse_objection_lift
from . import pulse_profile_export
