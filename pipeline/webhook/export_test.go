package webhook

// BudgetHeld returns the bytes of h's body budget that requests in flight
// hold.
func BudgetHeld(h *Handler) int64 { return h.budget.Held() }
