"""Land-surface parameter learning (MdPL): parameter generator, surrogate, simulators."""
