from . import test_security
from . import test_demo_history
from . import test_partner_stats
from . import test_segments
from . import test_tours
from . import test_segment_insights
from . import test_rules
from . import test_profiling
