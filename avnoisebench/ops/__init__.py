"""Operations shared by baselines and the proposed method: Sinkhorn codes, k-NN neighbours and label rectification."""

from avnoisebench.ops.knn import knn_rectify, neighbour_vote, top_k_neighbours
from avnoisebench.ops.sinkhorn import sinkhorn

__all__ = ["knn_rectify", "neighbour_vote", "sinkhorn", "top_k_neighbours"]
