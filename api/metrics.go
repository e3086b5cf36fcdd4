package api

// serveMetrics answers GET /metrics with Options.Metrics, once the caller
// may read them.
func (s *Server) serveMetrics(c *call) error {
	if err := c.authorize(MetricsResource); err != nil {
		return err
	}
	s.opts.Metrics.ServeHTTP(c.w, c.r)
	return nil
}
