package cluster

// Halt stops the node as a crash would: no more heartbeats, no goodbye.
func (r *Redis) Halt() {
	r.cancel()
	_ = r.ps.Close()
	r.wg.Wait()
	close(r.calls)
	<-r.done
}
