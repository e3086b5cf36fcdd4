package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Leases say which owner (a control-plane replica) may change a
// deployment. A lease has an expiry: an owner that dies mid-operation
// never locks a deployment for longer than its lease.

// leaseRetries bounds how often a lease write is tried again when
// another process changed the lease between its read and its write.
const leaseRetries = 5

// now returns the time leases are judged by: the driver's clock when it
// has one (a database server's), else the store's.
func (s *Store) leaseNow(ctx context.Context, c any) (time.Time, error) {
	if c, ok := c.(Clock); ok {
		t, err := c.Now(ctx)
		if !errors.Is(err, errors.ErrUnsupported) {
			return t.Round(0).UTC(), err
		}
	}
	return s.clock(), nil
}

// AcquireLease takes or renews the lease on a deployment for ttl. It
// succeeds when the deployment has no lease, when its lease expired, or
// when owner already holds it (a renewal); otherwise it fails with
// ErrLeaseHeld, wrapped in a *LeaseHeldError naming the holder and expiry.
// The deployment need not exist. Expiry is judged by the driver's clock
// when it has one (the database server's, for postgres), so replicas with
// skewed clocks agree.
//
// Lease writes do not queue behind other writes: drivers give them a
// connection of their own, so a renewal is not late because the store is
// busy with a large launch's records.
func (s *Store) AcquireLease(ctx context.Context, deployment, owner string, ttl time.Duration) (*Lease, error) {
	if err := checkLease(deployment, owner, ttl); err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	l, err := s.putLease(ctx, deployment, owner, ttl, func(now time.Time, prev *Lease) (*Lease, error) {
		switch {
		case prev == nil || !now.Before(prev.ExpiresAt):
			return &Lease{Deployment: deployment, Owner: owner, AcquiredAt: now}, nil
		case prev.Owner == owner:
			return &Lease{Deployment: deployment, Owner: owner, AcquiredAt: prev.AcquiredAt}, nil
		}
		return nil, &LeaseHeldError{Deployment: deployment, Owner: prev.Owner, ExpiresAt: prev.ExpiresAt}
	})
	if err != nil {
		return nil, fmt.Errorf("acquire lease on %q for %q: %w", deployment, owner, err)
	}
	return l, nil
}

// RenewLease extends owner's lease on a deployment to ttl from now, as
// AcquireLease does for its holder, but never takes a lease that is not
// there: it fails with ErrNotFound when there is none (it was released),
// and with ErrLeaseHeld when another owner took it. A holder that
// releases its lease in another write (UpdateDeployment with
// ReleasingLease) renews with it, so that a renewal racing the release
// cannot take the lease again.
func (s *Store) RenewLease(ctx context.Context, deployment, owner string, ttl time.Duration) (*Lease, error) {
	if err := checkLease(deployment, owner, ttl); err != nil {
		return nil, fmt.Errorf("renew lease: %w", err)
	}
	l, err := s.putLease(ctx, deployment, owner, ttl, func(_ time.Time, prev *Lease) (*Lease, error) {
		switch {
		case prev == nil:
			return nil, ErrNotFound
		case prev.Owner != owner:
			return nil, &LeaseHeldError{Deployment: deployment, Owner: prev.Owner, ExpiresAt: prev.ExpiresAt}
		}
		return &Lease{Deployment: deployment, Owner: owner, AcquiredAt: prev.AcquiredAt}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("renew lease on %q for %q: %w", deployment, owner, err)
	}
	return l, nil
}

// putLease writes owner's lease on deployment, expiring ttl from the
// lease clock's now, as next says from the lease there is (nil when
// none): next returns the lease to write without its expiry, or why
// there is none to write. The arguments are checked already.
func (s *Store) putLease(ctx context.Context, deployment, owner string, ttl time.Duration, next func(now time.Time, prev *Lease) (*Lease, error)) (*Lease, error) {
	var l *Lease
	err := s.leaseTx(ctx, func(tx Tx) error {
		now, err := s.leaseNow(ctx, tx)
		if err != nil {
			return err
		}
		prev, err := tx.Lease(ctx, deployment)
		switch {
		case errors.Is(err, ErrNotFound):
			prev = nil
		case err != nil:
			return err
		}
		if l, err = next(now, prev); err != nil {
			return err
		}
		l.ExpiresAt = now.Add(ttl)
		c := *l
		return tx.PutLease(ctx, &c, prev)
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// leaseTx runs a lease write as an urgent transaction, again when another
// process changed the lease between its read and its write.
func (s *Store) leaseTx(ctx context.Context, fn func(Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.update(ctx, &TxOptions{Urgent: true}, fn)
		if !errors.Is(err, ErrConflict) || attempt == leaseRetries {
			return err
		}
	}
}

// ReleaseLease gives up a lease held by owner. Releasing a lease that
// owner does not hold (expired and taken, or never held) fails with
// ErrLeaseHeld or ErrNotFound and changes nothing. Subscribers of
// SubscribeReleases hear of it.
func (s *Store) ReleaseLease(ctx context.Context, deployment, owner string) error {
	if err := checkDeploymentName("deployment", deployment); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	if err := checkKey("owner", owner); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	err := s.leaseTx(ctx, func(tx Tx) error { return releaseLease(ctx, tx, deployment, owner) })
	if err != nil {
		return fmt.Errorf("release lease on %q for %q: %w", deployment, owner, err)
	}
	s.hub.signal(releasedKey)
	return nil
}

// releaseLease deletes owner's lease on deployment in tx and tells the
// other processes.
func releaseLease(ctx context.Context, tx Tx, deployment, owner string) error {
	prev, err := tx.Lease(ctx, deployment)
	switch {
	case err != nil:
		return err
	case prev.Owner != owner:
		return &LeaseHeldError{Deployment: deployment, Owner: prev.Owner, ExpiresAt: prev.ExpiresAt}
	}
	if err := tx.DeleteLease(ctx, prev); err != nil {
		return err
	}
	return notify(ctx, tx, releasedKey)
}

// GetLease returns the current lease on a deployment, expired or not;
// ErrNotFound when there is none.
func (s *Store) GetLease(ctx context.Context, deployment string) (*Lease, error) {
	if err := checkDeploymentName("deployment", deployment); err != nil {
		return nil, fmt.Errorf("get lease: %w", err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	l, err := s.d.Lease(ctx, deployment)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("lease on %q: %w", deployment, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get lease on %q: %w", deployment, err)
	}
	now, err := s.leaseNow(ctx, s.d)
	if err != nil {
		return nil, fmt.Errorf("get lease on %q: %w", deployment, err)
	}
	l.Expired = !now.Before(l.ExpiresAt)
	return l, nil
}
