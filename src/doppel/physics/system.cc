#include "doppel/physics/system.h"

#include <cassert>
#include <stdexcept>

namespace doppel::physics {

const char* SignalKindName(SignalKind k) {
  switch (k) {
    case SignalKind::kState: return "state";
    case SignalKind::kInput: return "input";
    case SignalKind::kParameter: return "parameter";
    case SignalKind::kOutput: return "output";
  }
  return "?";
}

int System::Declare(SignalKind k, std::string name, std::string unit, double default_value,
                    std::string description) {
  assert(IndexOf(k, name) < 0 && "duplicate signal name");
  auto& v = sigs_[static_cast<int>(k)];
  v.push_back(Signal{std::move(name), std::move(unit), default_value, std::move(description)});
  return static_cast<int>(v.size()) - 1;
}

int System::IndexOf(SignalKind k, std::string_view name) const {
  const auto& v = signals(k);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

Result<int> System::Find(SignalKind k, std::string_view name) const {
  int i = IndexOf(k, name);
  if (i < 0) {
    return NotFound("system '" + name_ + "' has no " + SignalKindName(k) + " named '" + std::string(name) +
                    "'");
  }
  return i;
}

Eigen::VectorXd System::DefaultValues(SignalKind k) const {
  const auto& v = signals(k);
  Eigen::VectorXd out(static_cast<Eigen::Index>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) out[static_cast<Eigen::Index>(i)] = v[i].default_value;
  return out;
}

Context System::CreateDefaultContext() const {
  Context c;
  c.state = DefaultValues(SignalKind::kState);
  c.inputs = DefaultValues(SignalKind::kInput);
  c.parameters = DefaultValues(SignalKind::kParameter);
  return c;
}

namespace {
Eigen::VectorXd* Slot(Context* c, SignalKind k) {
  switch (k) {
    case SignalKind::kState: return &c->state;
    case SignalKind::kInput: return &c->inputs;
    case SignalKind::kParameter: return &c->parameters;
    case SignalKind::kOutput: return nullptr;
  }
  return nullptr;
}
}  // namespace

Status System::SetValue(Context* context, SignalKind k, std::string_view name, double value) const {
  Eigen::VectorXd* v = Slot(context, k);
  if (v == nullptr) return InvalidArgument("outputs are computed, not set: '" + std::string(name) + "'");
  auto i = Find(k, name);
  if (!i.ok()) return i.status();
  if (*i >= v->size()) return InvalidArgument("context does not match system '" + name_ + "'");
  (*v)[*i] = value;
  return Status::Ok();
}

Result<double> System::GetValue(const Context& context, SignalKind k, std::string_view name) const {
  Eigen::VectorXd* v = Slot(const_cast<Context*>(&context), k);
  if (v == nullptr) return InvalidArgument("use EvalOutputs for outputs: '" + std::string(name) + "'");
  auto i = Find(k, name);
  if (!i.ok()) return i.status();
  if (*i >= v->size()) return InvalidArgument("context does not match system '" + name_ + "'");
  return (*v)[*i];
}

Status System::ValidateContext(const Context& c) const {
  if (c.state.size() != num_states() || c.inputs.size() != num_inputs() ||
      c.parameters.size() != num_parameters()) {
    return InvalidArgument("context sizes (x " + std::to_string(c.state.size()) + ", u " +
                           std::to_string(c.inputs.size()) + ", p " + std::to_string(c.parameters.size()) +
                           ") do not match system '" + name_ + "' (x " + std::to_string(num_states()) +
                           ", u " + std::to_string(num_inputs()) + ", p " + std::to_string(num_parameters()) +
                           ")");
  }
  return Status::Ok();
}

Eigen::VectorXd System::EvalDerivatives(const Context& c) const {
  Eigen::VectorXd xdot(num_states());
  CalcDerivatives(c.time, c.state, c.inputs, c.parameters, xdot);
  return xdot;
}

Eigen::VectorXd System::EvalOutputs(const Context& c) const {
  Eigen::VectorXd y(num_outputs());
  CalcOutputs(c.time, c.state, c.inputs, c.parameters, y);
  return y;
}

VectorX<AutoDiffXd> ToAutoDiff(const Eigen::VectorXd& v, int num_derivatives, bool seed, int offset) {
  if (num_derivatives < 0 || num_derivatives > kMaxAutoDiffDerivatives) {
    throw std::invalid_argument("ToAutoDiff: " + std::to_string(num_derivatives) +
                                " derivatives requested, at most " + std::to_string(kMaxAutoDiffDerivatives) +
                                " supported");
  }
  VectorX<AutoDiffXd> out(v.size());
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    out[i].value() = v[i];
    out[i].derivatives() = Eigen::VectorXd::Zero(num_derivatives);
    if (seed) out[i].derivatives()[offset + i] = 1.0;
  }
  return out;
}

Eigen::VectorXd ValuesOf(const VectorX<AutoDiffXd>& v) {
  Eigen::VectorXd out(v.size());
  for (Eigen::Index i = 0; i < v.size(); ++i) out[i] = v[i].value();
  return out;
}

Eigen::MatrixXd JacobianOf(const VectorX<AutoDiffXd>& v, int num_derivatives) {
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(v.size(), num_derivatives);
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    const auto& d = v[i].derivatives();
    if (d.size() == num_derivatives) J.row(i) = d.transpose();
  }
  return J;
}

}  // namespace doppel::physics
