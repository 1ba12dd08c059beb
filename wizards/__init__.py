from . import pulse_segment_activity
from . import pulse_rule_preview
