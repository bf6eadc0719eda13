#include "doppel/estimate/model.h"

#include <cassert>
#include <cmath>
#include <type_traits>

namespace doppel::estimate {

using physics::SignalKind;

namespace {
// Constants for the AD path carry zero derivative vectors of the full size: Eigen's
// AutoDiffScalar cannot reconcile an empty derivative inside an expression with a sized one.
template <typename T>
VectorX<T> Constants(const Eigen::VectorXd& v, int n) {
  if constexpr (std::is_same_v<T, double>) {
    return v;
  } else {
    return physics::ToAutoDiff(v, n, /*seed=*/false);
  }
}

// physics::ToAutoDiff(v, n, seed) written into *out (no allocation once *out has v's size).
void ToAutoDiffInto(const Eigen::VectorXd& v, int n, bool seed, VectorX<AutoDiffXd>* out) {
  if (n < 0 || n > physics::kMaxAutoDiffDerivatives) {
    *out = physics::ToAutoDiff(v, n, seed);  // throws, naming the limit
    return;
  }
  out->resize(v.size());
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    AutoDiffXd& a = (*out)[i];
    a.value() = v[i];
    a.derivatives().setZero(n);
    if (seed) a.derivatives()[i] = 1.0;
  }
}
// The same with the fixed-size scalar: always kFixedAutoDiffDerivatives partials, n ≤ that many
// seeded (the caller chooses AutoDiff8 only then).
void ToAutoDiffInto(const Eigen::VectorXd& v, int n, bool seed, VectorX<AutoDiff8>* out) {
  assert(n >= 0 && n <= physics::kFixedAutoDiffDerivatives);
  out->resize(v.size());
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    AutoDiff8& a = (*out)[i];
    a.value() = v[i];
    a.derivatives().setZero();
    if (seed) a.derivatives()[i] = 1.0;
  }
}

// Constants<T>(v, n) written into *out.
template <typename T>
void ConstantsInto(const Eigen::VectorXd& v, int n, VectorX<T>* out) {
  if constexpr (std::is_same_v<T, double>) {
    *out = v;
  } else {
    ToAutoDiffInto(v, n, /*seed=*/false, out);
  }
}

bool UseFixedAutoDiff(int n) { return n <= physics::kFixedAutoDiffDerivatives; }
}  // namespace

Result<AugmentedModel> AugmentedModel::Create(const FilterModel& m) {
  if (m.system == nullptr) return InvalidArgument("filter model: no system");
  const physics::System& s = *m.system;
  AugmentedModel a;
  a.sys_ = m.system;
  a.nx_ = s.num_states();
  a.p_ = m.parameters.size() == 0 ? s.DefaultValues(SignalKind::kParameter) : m.parameters;
  if (a.p_.size() != s.num_parameters()) {
    return InvalidArgument("filter model: parameters has " + std::to_string(a.p_.size()) +
                           " values, system '" + s.name() + "' has " + std::to_string(s.num_parameters()));
  }
  for (const auto& st : s.states()) a.names_.push_back(st.name);
  for (const std::string& n : m.estimated_parameters) {
    auto i = s.Find(SignalKind::kParameter, n);
    if (!i.ok()) return i.status();
    for (int j : a.aug_) {
      if (j == *i) return InvalidArgument("filter model: parameter '" + n + "' listed twice");
    }
    a.aug_.push_back(*i);
    a.names_.push_back(n);
  }
  a.na_ = static_cast<int>(a.aug_.size());
  if (m.measurements.empty()) return InvalidArgument("filter model: no measurements");
  for (const std::string& n : m.measurements) {
    auto i = s.Find(SignalKind::kOutput, n);
    if (!i.ok()) return i.status();
    a.meas_.push_back(*i);
    a.meas_names_.push_back(n);
  }
  return a;
}

Eigen::VectorXd AugmentedModel::DefaultMean() const {
  Eigen::VectorXd z(size());
  z.head(nx_) = sys_->DefaultValues(SignalKind::kState);
  for (int k = 0; k < na_; ++k) z[nx_ + k] = p_[aug_[static_cast<size_t>(k)]];
  return z;
}

physics::Context AugmentedModel::ToContext(double t, const Eigen::VectorXd& z,
                                           const Eigen::VectorXd& u) const {
  physics::Context c;
  c.time = t;
  c.state = z.head(nx_);
  c.inputs = u;
  c.parameters = p_;
  for (int k = 0; k < na_; ++k) c.parameters[aug_[static_cast<size_t>(k)]] = z[nx_ + k];
  return c;
}

template <typename T>
const VectorX<T>& AugmentedModel::Params(const VectorX<T>& z) const {
  VectorX<T>* p;
  if constexpr (std::is_same_v<T, double>) {
    p = &p_work_;
  } else if constexpr (std::is_same_v<T, AutoDiff8>) {
    p = &p_work_ad8_;
  } else {
    p = &p_work_ad_;
  }
  // The fixed entries are written once (the AD constants carry zero derivatives of size n).
  if (p->size() != p_.size()) ConstantsInto<T>(p_, size(), p);
  for (int k = 0; k < na_; ++k) (*p)[aug_[static_cast<size_t>(k)]] = z[nx_ + k];
  return *p;
}

template <typename T>
AugmentedModel::Scratch<T>& AugmentedModel::scratch() const {
  if constexpr (std::is_same_v<T, double>) {
    return scratch_;
  } else if constexpr (std::is_same_v<T, AutoDiff8>) {
    return scratch_ad8_;
  } else {
    return scratch_ad_;
  }
}

template <typename T>
VectorX<T> AugmentedModel::Derivative(double t, const VectorX<T>& z, const VectorX<T>& u) const {
  const VectorX<T>& p = Params(z);
  VectorX<T> dz = Constants<T>(Eigen::VectorXd::Zero(size()), size());
  VectorX<T> x = z.head(nx_);
  VectorX<T> xd(nx_);
  sys_->CalcDerivatives(t, x, u, p, xd);
  dz.head(nx_) = xd;
  return dz;
}

template <typename T>
void AugmentedModel::PropagateStates(double t0, double t1, const VectorX<T>& z0, const Eigen::VectorXd& u,
                                     double max_step) const {
  Scratch<T>& s = scratch<T>();
  ConstantsInto<T>(u, size(), &s.u);
  const VectorX<T>& uu = s.u;
  // dθ/dt = 0: the parameters (θ substituted) are the same at every RK4 stage, so only the
  // system states are integrated and θ (with its derivatives) passes through unchanged.
  const VectorX<T>& p = Params(z0);
  const int steps = std::max(1, static_cast<int>(std::ceil((t1 - t0) / max_step - 1e-9)));
  const double h = (t1 - t0) / steps;
  VectorX<T>&x = s.x, &xs = s.xs, &k1 = s.k1, &k2 = s.k2, &k3 = s.k3, &k4 = s.k4;
  x = z0.head(nx_);
  xs.resize(nx_);
  k1.resize(nx_);
  k2.resize(nx_);
  k3.resize(nx_);
  k4.resize(nx_);
  for (int k = 0; k < steps; ++k) {
    const double t = t0 + k * h;
    sys_->CalcDerivatives(t, x, uu, p, k1);
    xs = x + (0.5 * h) * k1;
    sys_->CalcDerivatives(t + 0.5 * h, xs, uu, p, k2);
    xs = x + (0.5 * h) * k2;
    sys_->CalcDerivatives(t + 0.5 * h, xs, uu, p, k3);
    xs = x + h * k3;
    sys_->CalcDerivatives(t + h, xs, uu, p, k4);
    x += (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
  }
}

template <typename T>
VectorX<T> AugmentedModel::Propagate(double t0, double t1, const VectorX<T>& z0, const Eigen::VectorXd& u,
                                     double max_step) const {
  VectorX<T> z = z0;
  if (!(t1 > t0) || nx_ == 0) return z;
  PropagateStates<T>(t0, t1, z0, u, max_step);
  z.head(nx_) = scratch<T>().x;
  return z;
}

template <typename T>
void AugmentedModel::EvalOutputs(double t, const VectorX<T>& z, const Eigen::VectorXd& u) const {
  const VectorX<T>& p = Params(z);
  Scratch<T>& s = scratch<T>();
  ConstantsInto<T>(u, size(), &s.u);
  s.y.resize(sys_->num_outputs());
  sys_->CalcOutputs(t, z.head(nx_), s.u, p, s.y);
}

template <typename T>
VectorX<T> AugmentedModel::Observe(double t, const VectorX<T>& z, const Eigen::VectorXd& u,
                                   const std::vector<int>& rows) const {
  EvalOutputs<T>(t, z, u);
  const VectorX<T>& y = scratch<T>().y;
  VectorX<T> out(static_cast<Eigen::Index>(rows.size()));
  for (size_t k = 0; k < rows.size(); ++k)
    out[static_cast<Eigen::Index>(k)] = y[meas_[static_cast<size_t>(rows[k])]];
  return out;
}

void AugmentedModel::LinearizePropagation(double t0, double t1, const Eigen::VectorXd& z,
                                          const Eigen::VectorXd& u, double max_step, Eigen::VectorXd* z1,
                                          Eigen::MatrixXd* F) const {
  if (UseFixedAutoDiff(size())) {
    LinearizePropagationAs<AutoDiff8>(t0, t1, z, u, max_step, z1, F);
  } else {
    LinearizePropagationAs<AutoDiffXd>(t0, t1, z, u, max_step, z1, F);
  }
}

void AugmentedModel::LinearizeObservation(double t, const Eigen::VectorXd& z, const Eigen::VectorXd& u,
                                          const std::vector<int>& rows, Eigen::VectorXd* y,
                                          Eigen::MatrixXd* H) const {
  if (UseFixedAutoDiff(size())) {
    LinearizeObservationAs<AutoDiff8>(t, z, u, rows, y, H);
  } else {
    LinearizeObservationAs<AutoDiffXd>(t, z, u, rows, y, H);
  }
}

template <typename AD>
void AugmentedModel::LinearizePropagationAs(double t0, double t1, const Eigen::VectorXd& z,
                                            const Eigen::VectorXd& u, double max_step, Eigen::VectorXd* z1,
                                            Eigen::MatrixXd* F) const {
  const int n = size();
  Scratch<AD>& s = scratch<AD>();
  ToAutoDiffInto(z, n, /*seed=*/true, &s.z);
  *z1 = z;
  F->setIdentity(n, n);  // θ rows (no dynamics): identity
  if (!(t1 > t0) || nx_ == 0) return;
  PropagateStates<AD>(t0, t1, s.z, u, max_step);
  for (int i = 0; i < nx_; ++i) {
    (*z1)[i] = s.x[i].value();
    const auto& d = s.x[i].derivatives();
    // An entry never touched by a seeded value (an empty AutoDiffXd derivative vector) keeps its
    // identity row.
    if (d.size() >= n) F->row(i) = d.head(n).transpose();
  }
}

template <typename AD>
void AugmentedModel::LinearizeObservationAs(double t, const Eigen::VectorXd& z, const Eigen::VectorXd& u,
                                            const std::vector<int>& rows, Eigen::VectorXd* y,
                                            Eigen::MatrixXd* H) const {
  const int n = size();
  Scratch<AD>& s = scratch<AD>();
  ToAutoDiffInto(z, n, /*seed=*/true, &s.z);
  EvalOutputs<AD>(t, s.z, u);
  const auto m = static_cast<Eigen::Index>(rows.size());
  y->resize(m);
  H->setZero(m, n);  // constants (empty derivative vectors) give zero rows
  for (Eigen::Index k = 0; k < m; ++k) {
    const AD& a = s.y[meas_[static_cast<size_t>(rows[static_cast<size_t>(k)])]];
    (*y)[k] = a.value();
    if (a.derivatives().size() >= n) H->row(k) = a.derivatives().head(n).transpose();
  }
}

template VectorX<double> AugmentedModel::Derivative<double>(double, const VectorX<double>&,
                                                            const VectorX<double>&) const;
template VectorX<double> AugmentedModel::Propagate<double>(double, double, const VectorX<double>&,
                                                           const Eigen::VectorXd&, double) const;
template VectorX<double> AugmentedModel::Observe<double>(double, const VectorX<double>&,
                                                         const Eigen::VectorXd&,
                                                         const std::vector<int>&) const;
template VectorX<AutoDiffXd> AugmentedModel::Propagate<AutoDiffXd>(double, double, const VectorX<AutoDiffXd>&,
                                                                   const Eigen::VectorXd&, double) const;
template VectorX<AutoDiffXd> AugmentedModel::Observe<AutoDiffXd>(double, const VectorX<AutoDiffXd>&,
                                                                 const Eigen::VectorXd&,
                                                                 const std::vector<int>&) const;

}  // namespace doppel::estimate
