"""Typed models (pure): CNI plugin configs, IPAM, network selections, stack spec."""
