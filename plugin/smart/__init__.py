"""The SMART App Launch door: the EHR launch and the standalone launch, ending on the widget prefilled."""
