package koiapi

// BudgetHeld returns the bytes of s's body budget that requests in flight
// hold.
func BudgetHeld(s *Server) int64 { return s.budget.Held() }
