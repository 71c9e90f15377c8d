"""Database layer. Importing the package registers every table on ``Base.metadata``."""

from orchestratia.hub.db import approval_models as approval_models
from orchestratia.hub.db import fleet_models as fleet_models
from orchestratia.hub.db import inbox_models as inbox_models
from orchestratia.hub.db import integration_models as integration_models
from orchestratia.hub.db import task_models as task_models
from orchestratia.hub.db import team_models as team_models
from orchestratia.hub.db import tunnel_models as tunnel_models
