from . import pulse_segment_activity
