// Behavior models as systems (Drake-like; docs/physics.md).
//
// A System is a const description of a model: it declares named, unit-carrying continuous
// states x, inputs u, numeric parameters p and outputs y, and computes
//
//     xdot = f(t, x, u, p)        y = h(t, x, u, p)
//
// as pure functions. Values live in a Context (time, x, u, p); only a Simulator or an
// estimator advances one. Time is an argument: nothing here reads a clock, does I/O or starts
// threads. The calculations exist for three scalar types, double, AutoDiffXd and AutoDiff8 (Eigen's
// forward automatic differentiation with a dynamic or a fixed number of partials), so estimators
// get exact Jacobians of the same code that simulates.
//
// Vector sizes are contracts: x has num_states(), u num_inputs(), p num_parameters(), and the
// output vector num_outputs() entries, in declaration order. Passing other sizes is API misuse
// (asserted in debug builds).
#pragma once

#include <Eigen/Core>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <unsupported/Eigen/AutoDiff>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::physics {

// Forward-mode derivatives stored inline (no heap allocation per arithmetic operation, which
// dominated estimator steps): at most kMaxAutoDiffDerivatives partials. Differentiating with
// respect to more variables is API misuse (ToAutoDiff throws); CVODE falls back to difference
// quotients for larger systems.
constexpr int kMaxAutoDiffDerivatives = 32;
using AutoDiffXd =
    Eigen::AutoDiffScalar<Eigen::Matrix<double, Eigen::Dynamic, 1, 0, kMaxAutoDiffDerivatives, 1>>;
// Exactly kFixedAutoDiffDerivatives partials, fixed at compile time: the derivative arithmetic
// is unrolled straight-line code (no size checks or loops), ≈2× faster than AutoDiffXd on the
// pump twin. Estimators with at most this many augmented states use it; directions beyond the
// ones seeded stay zero.
constexpr int kFixedAutoDiffDerivatives = 8;
using AutoDiff8 = Eigen::AutoDiffScalar<Eigen::Matrix<double, kFixedAutoDiffDerivatives, 1>>;
template <typename T>
using VectorX = Eigen::Matrix<T, Eigen::Dynamic, 1>;
// An Eigen vector expression with direct access to contiguous storage of Ts.
template <typename D, typename T>
concept ContiguousVectorOf = std::is_same_v<typename D::Scalar, T> && bool(D::IsVectorAtCompileTime) &&
                             int(D::InnerStrideAtCompileTime) == 1 && requires(const D& d) {
  d.data();
};
// A read-only view (pointer and size) of a VectorX, or of any contiguous column of Ts with
// direct access (a segment, a Map, a Ref). Unlike Eigen::Ref<const VectorX<T>>, which carries
// an empty VectorX for the temporary it would evaluate an expression into, and so calls free()
// on every destruction, a view costs nothing to make; expressions (`x + h * k`) do not bind:
// evaluate them into a vector first.
template <typename T>
class ConstVectorView : public Eigen::Map<const VectorX<T>> {
  using Base = Eigen::Map<const VectorX<T>>;

 public:
  template <ContiguousVectorOf<T> D>
  ConstVectorView(const Eigen::DenseBase<D>& v) : Base(v.derived().data(), v.size()) {}  // NOLINT: implicit
};
// Read-only vector argument: binds to a VectorX or a contiguous segment of one, without copy.
template <typename T>
using InVec = const ConstVectorView<T>&;
// Writable vector argument of the right size (a VectorX or a contiguous segment of one).
template <typename T>
using OutVec = Eigen::Ref<VectorX<T>>;

// One declared scalar: a state, input, parameter or output.
struct Signal {
  std::string name;          // unique within its kind in the system, e.g. "flow_m3h"
  std::string unit;          // human-readable unit, e.g. "m3/h", "rpm", "1" (dimensionless)
  double default_value = 0;  // default state / parameter / input value (NaN allowed for inputs)
  std::string description;
};

enum class SignalKind { kState, kInput, kParameter, kOutput };
const char* SignalKindName(SignalKind k);

// The values a System is evaluated at. A plain value type: copy it to fork a what-if.
struct Context {
  double time = 0;             // s
  Eigen::VectorXd state;       // size num_states()
  Eigen::VectorXd inputs;      // size num_inputs(); held constant between simulator steps
  Eigen::VectorXd parameters;  // size num_parameters()
};

class System {
 public:
  explicit System(std::string name) : name_(std::move(name)) {}
  virtual ~System() = default;
  System(const System&) = delete;
  System& operator=(const System&) = delete;

  const std::string& name() const { return name_; }

  const std::vector<Signal>& signals(SignalKind k) const { return sigs_[static_cast<int>(k)]; }
  const std::vector<Signal>& states() const { return signals(SignalKind::kState); }
  const std::vector<Signal>& inputs() const { return signals(SignalKind::kInput); }
  const std::vector<Signal>& parameters() const { return signals(SignalKind::kParameter); }
  const std::vector<Signal>& outputs() const { return signals(SignalKind::kOutput); }
  int num_states() const { return static_cast<int>(states().size()); }
  int num_inputs() const { return static_cast<int>(inputs().size()); }
  int num_parameters() const { return static_cast<int>(parameters().size()); }
  int num_outputs() const { return static_cast<int>(outputs().size()); }

  // Index of the named signal, or -1.
  int IndexOf(SignalKind k, std::string_view name) const;
  // Index of the named signal, or NotFound naming the system and the kind.
  Result<int> Find(SignalKind k, std::string_view name) const;

  // Declared default values.
  Eigen::VectorXd DefaultValues(SignalKind k) const;
  // time 0, default state, inputs and parameters.
  Context CreateDefaultContext() const;
  // Sets context->state/inputs/parameters[name] = value (kOutput is an error).
  Status SetValue(Context* context, SignalKind k, std::string_view name, double value) const;
  // Reads a state, input or parameter of `context` by name.
  Result<double> GetValue(const Context& context, SignalKind k, std::string_view name) const;

  // True if some output depends on the inputs (used by Diagram to order evaluation and to
  // reject algebraic loops). Conservative default: true.
  virtual bool HasDirectFeedthrough() const { return true; }

  // xdot = f(t, x, u, p); xdot has num_states() entries, and every one must be written (an
  // AutoDiff8 scratch entry left unwritten holds stale partials, not zeros).
  virtual void CalcDerivatives(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                               OutVec<double> xdot) const = 0;
  virtual void CalcDerivatives(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                               OutVec<AutoDiffXd> xdot) const = 0;
  virtual void CalcDerivatives(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                               OutVec<AutoDiff8> xdot) const = 0;
  // y = h(t, x, u, p); y has num_outputs() entries, every one written (as for xdot).
  virtual void CalcOutputs(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                           OutVec<double> y) const = 0;
  virtual void CalcOutputs(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                           OutVec<AutoDiffXd> y) const = 0;
  virtual void CalcOutputs(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                           OutVec<AutoDiff8> y) const = 0;

  // Convenience evaluations at a context.
  Eigen::VectorXd EvalDerivatives(const Context& c) const;
  Eigen::VectorXd EvalOutputs(const Context& c) const;
  // Checks that the context's vectors have this system's sizes.
  Status ValidateContext(const Context& c) const;

 protected:
  // Declarations, in order; each returns the new signal's index. Names must be unique per kind
  // (asserted).
  int Declare(SignalKind k, std::string name, std::string unit, double default_value = 0,
              std::string description = "");
  int DeclareState(std::string name, std::string unit, double default_value = 0, std::string desc = "") {
    return Declare(SignalKind::kState, std::move(name), std::move(unit), default_value, std::move(desc));
  }
  int DeclareInput(std::string name, std::string unit, double default_value = 0, std::string desc = "") {
    return Declare(SignalKind::kInput, std::move(name), std::move(unit), default_value, std::move(desc));
  }
  int DeclareParameter(std::string name, std::string unit, double default_value, std::string desc = "") {
    return Declare(SignalKind::kParameter, std::move(name), std::move(unit), default_value, std::move(desc));
  }
  int DeclareOutput(std::string name, std::string unit, std::string desc = "") {
    return Declare(SignalKind::kOutput, std::move(name), std::move(unit), 0, std::move(desc));
  }

 private:
  std::string name_;
  std::vector<Signal> sigs_[4];
};

// Base for hand-written models: Derived implements, for T in {double, AutoDiffXd, AutoDiff8},
//
//   template <typename T> void DoCalcDerivatives(double t, InVec<T> x, InVec<T> u, InVec<T> p,
//                                                OutVec<T> xdot) const;
//   template <typename T> void DoCalcOutputs(double t, InVec<T> x, InVec<T> u, InVec<T> p,
//                                            OutVec<T> y) const;
//
// and this class routes every scalar type's virtual calls to them.
template <typename Derived>
class LeafSystem : public System {
 public:
  using System::System;

  void CalcDerivatives(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                       OutVec<double> xdot) const final {
    self().template DoCalcDerivatives<double>(t, x, u, p, xdot);
  }
  void CalcDerivatives(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                       OutVec<AutoDiffXd> xdot) const final {
    self().template DoCalcDerivatives<AutoDiffXd>(t, x, u, p, xdot);
  }
  void CalcDerivatives(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                       OutVec<AutoDiff8> xdot) const final {
    self().template DoCalcDerivatives<AutoDiff8>(t, x, u, p, xdot);
  }
  void CalcOutputs(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                   OutVec<double> y) const final {
    self().template DoCalcOutputs<double>(t, x, u, p, y);
  }
  void CalcOutputs(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                   OutVec<AutoDiffXd> y) const final {
    self().template DoCalcOutputs<AutoDiffXd>(t, x, u, p, y);
  }
  void CalcOutputs(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                   OutVec<AutoDiff8> y) const final {
    self().template DoCalcOutputs<AutoDiff8>(t, x, u, p, y);
  }

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};

// ---------------------------------------------------------------------------------------------
// Scalar helpers that work for every scalar type (branches on values; derivatives follow the
// taken branch, so kinks give one-sided derivatives).

inline double Value(double v) { return v; }
template <typename Der>
double Value(const Eigen::AutoDiffScalar<Der>& v) {
  return v.value();
}

template <typename T>
T Max(const T& a, const T& b) {
  return Value(a) >= Value(b) ? a : b;
}
template <typename T>
T Min(const T& a, const T& b) {
  return Value(a) <= Value(b) ? a : b;
}
template <typename T>
T Clamp(const T& v, double lo, double hi) {
  if (Value(v) < lo) return T(lo);
  if (Value(v) > hi) return T(hi);
  return v;
}

// Promotes a double vector to AutoDiffXd with derivative vectors of size `num_derivatives`:
// zero, or the unit vector e_(offset+i) when `seed` is true.
VectorX<AutoDiffXd> ToAutoDiff(const Eigen::VectorXd& v, int num_derivatives, bool seed, int offset = 0);
// Values and the Jacobian (rows: entries of v, columns: derivative directions). Entries whose
// derivative vector is empty (constants) give zero rows.
Eigen::VectorXd ValuesOf(const VectorX<AutoDiffXd>& v);
Eigen::MatrixXd JacobianOf(const VectorX<AutoDiffXd>& v, int num_derivatives);

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A diagram signal's name without its subsystem: "pump.impeller_wear" -> "impeller_wear" (text
// after the first dot; a name without one is returned whole).
inline std::string ShortName(std::string_view name) {
  const size_t dot = name.find('.');
  return std::string(dot == std::string_view::npos ? name : name.substr(dot + 1));
}

}  // namespace doppel::physics
