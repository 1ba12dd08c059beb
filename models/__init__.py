from . import pulse_partner_stats
from . import pulse_partner_category_stats
from . import pulse_segment
from . import pulse_segment_member
from . import res_config_settings
from . import res_partner
from . import sale_order
from . import account_move
