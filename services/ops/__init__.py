"""Operations: replay, record, rebuild, verify, time travel."""
