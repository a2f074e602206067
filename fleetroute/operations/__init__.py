"""Operations: what fleetroute computes and changes on a host."""
