"""Cost-to-serve learned from data: customer switching, expediting, BOM stop cost (issue #21)."""

from echelon_cost.learned.bom import assembly_stop_cost, margin_at_risk
from echelon_cost.learned.expediting import ExpediteCostModel, mean_absolute_percentage_error
from echelon_cost.learned.model import OUTPUT_COLUMNS, LearnedCostModel
from echelon_cost.learned.switching import SwitchingModel

__all__ = ["LearnedCostModel", "OUTPUT_COLUMNS", "SwitchingModel", "ExpediteCostModel",
           "mean_absolute_percentage_error", "assembly_stop_cost", "margin_at_risk"]
