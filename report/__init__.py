from . import pulse_followup_report
