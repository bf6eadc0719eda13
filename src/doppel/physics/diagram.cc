#include "doppel/physics/diagram.h"

#include <map>
#include <set>
#include <type_traits>

namespace doppel::physics {

System* DiagramBuilder::AddSystem(std::unique_ptr<System> system) {
  systems_.push_back(std::move(system));
  return systems_.back().get();
}

void DiagramBuilder::Connect(std::string from, std::string output, std::string to, std::string input) {
  wires_.push_back(Wire{std::move(from), std::move(output), std::move(to), std::move(input)});
}

void DiagramBuilder::ExportInput(std::string system, std::string input, std::string exported_name) {
  input_names_.push_back(Rename{std::move(system), std::move(input), std::move(exported_name)});
}

void DiagramBuilder::ExportOutput(std::string system, std::string output, std::string exported_name) {
  output_names_.push_back(Rename{std::move(system), std::move(output), std::move(exported_name)});
}

Result<std::unique_ptr<Diagram>> DiagramBuilder::Build(std::string name) && {
  std::unique_ptr<Diagram> d(new Diagram(std::move(name)));
  const std::string where = "diagram '" + d->name() + "': ";
  std::map<std::string, int, std::less<>> index;
  for (size_t i = 0; i < systems_.size(); ++i) {
    const std::string& n = systems_[i]->name();
    if (n.empty() || n.find('.') != std::string::npos) {
      return InvalidArgument(where + "subsystem name '" + n + "' is empty or contains '.'");
    }
    if (!index.emplace(n, static_cast<int>(i)).second) {
      return AlreadyExists(where + "two subsystems named '" + n + "'");
    }
  }
  auto find_sys = [&](const std::string& n) -> Result<int> {
    auto it = index.find(n);
    if (it == index.end()) return NotFound(where + "no subsystem named '" + n + "'");
    return it->second;
  };

  // Offsets.
  int nx = 0, np = 0, ny = 0, nu = 0;
  for (const auto& s : systems_) {
    d->x_off_.push_back(nx);
    d->p_off_.push_back(np);
    d->y_off_.push_back(ny);
    d->u_off_.push_back(nu);
    nx += s->num_states();
    np += s->num_parameters();
    ny += s->num_outputs();
    nu += s->num_inputs();
  }
  d->total_inputs_ = nu;
  d->src_.assign(static_cast<size_t>(nu), Diagram::Source{});
  std::vector<bool> wired(static_cast<size_t>(nu), false);
  std::vector<std::set<int>> feeders(systems_.size());  // subsystems feeding each subsystem

  for (const Wire& w : wires_) {
    auto from = find_sys(w.from);
    if (!from.ok()) return from.status();
    auto to = find_sys(w.to);
    if (!to.ok()) return to.status();
    const System& fs = *systems_[static_cast<size_t>(*from)];
    const System& ts = *systems_[static_cast<size_t>(*to)];
    auto out = fs.Find(SignalKind::kOutput, w.output);
    if (!out.ok()) return Status(out.status().code(), where + out.status().message());
    auto in = ts.Find(SignalKind::kInput, w.input);
    if (!in.ok()) return Status(in.status().code(), where + in.status().message());
    const std::string& fu = fs.outputs()[static_cast<size_t>(*out)].unit;
    const std::string& tu = ts.inputs()[static_cast<size_t>(*in)].unit;
    if (fu != tu) {
      return InvalidArgument(where + w.from + "." + w.output + " [" + fu + "] -> " + w.to + "." + w.input +
                             " [" + tu + "]: units differ");
    }
    size_t g = static_cast<size_t>(d->u_off_[static_cast<size_t>(*to)] + *in);
    if (wired[g]) return InvalidArgument(where + "input " + w.to + "." + w.input + " is wired twice");
    wired[g] = true;
    d->src_[g] = Diagram::Source{true, d->y_off_[static_cast<size_t>(*from)] + *out};
    feeders[static_cast<size_t>(*to)].insert(*from);
  }

  // Names: states and parameters "<sub>.<name>"; inputs and outputs may be renamed.
  std::map<std::pair<int, std::string>, std::string> in_alias, out_alias;
  for (const Rename& r : input_names_) {
    auto s = find_sys(r.system);
    if (!s.ok()) return s.status();
    auto i = systems_[static_cast<size_t>(*s)]->Find(SignalKind::kInput, r.signal);
    if (!i.ok()) return Status(i.status().code(), where + i.status().message());
    if (wired[static_cast<size_t>(d->u_off_[static_cast<size_t>(*s)] + *i)]) {
      return InvalidArgument(where + "cannot export wired input " + r.system + "." + r.signal);
    }
    in_alias[{*s, r.signal}] = r.exported;
  }
  for (const Rename& r : output_names_) {
    auto s = find_sys(r.system);
    if (!s.ok()) return s.status();
    auto i = systems_[static_cast<size_t>(*s)]->Find(SignalKind::kOutput, r.signal);
    if (!i.ok()) return Status(i.status().code(), where + i.status().message());
    out_alias[{*s, r.signal}] = r.exported;
  }
  std::set<std::string> in_names, out_names;
  int next_input = 0;
  for (size_t si = 0; si < systems_.size(); ++si) {
    const System& s = *systems_[si];
    const std::string pre = s.name() + ".";
    for (const Signal& sg : s.states())
      d->Declare(SignalKind::kState, pre + sg.name, sg.unit, sg.default_value, sg.description);
    for (const Signal& sg : s.parameters()) {
      d->Declare(SignalKind::kParameter, pre + sg.name, sg.unit, sg.default_value, sg.description);
    }
    for (const Signal& sg : s.outputs()) {
      auto it = out_alias.find({static_cast<int>(si), sg.name});
      std::string n = it == out_alias.end() ? pre + sg.name : it->second;
      if (!out_names.insert(n).second) return AlreadyExists(where + "two outputs named '" + n + "'");
      d->Declare(SignalKind::kOutput, n, sg.unit, 0, sg.description);
    }
    for (int j = 0; j < s.num_inputs(); ++j) {
      size_t g = static_cast<size_t>(d->u_off_[si] + j);
      if (wired[g]) continue;
      const Signal& sg = s.inputs()[static_cast<size_t>(j)];
      auto it = in_alias.find({static_cast<int>(si), sg.name});
      std::string n = it == in_alias.end() ? pre + sg.name : it->second;
      if (!in_names.insert(n).second) return AlreadyExists(where + "two inputs named '" + n + "'");
      d->Declare(SignalKind::kInput, n, sg.unit, sg.default_value, sg.description);
      d->src_[g] = Diagram::Source{false, next_input++};
    }
  }

  // Evaluation order (Kahn): only feedthrough subsystems must wait for their feeders.
  const size_t n = systems_.size();
  std::vector<int> pending(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (systems_[i]->HasDirectFeedthrough()) pending[i] = static_cast<int>(feeders[i].size());
  }
  std::vector<bool> done(n, false);
  for (size_t round = 0; round < n; ++round) {
    int pick = -1;
    for (size_t i = 0; i < n; ++i) {
      if (!done[i] && pending[i] == 0) {
        pick = static_cast<int>(i);
        break;
      }
    }
    if (pick < 0) return InvalidArgument(where + "algebraic loop through direct-feedthrough subsystems");
    done[static_cast<size_t>(pick)] = true;
    d->order_.push_back(pick);
    for (size_t i = 0; i < n; ++i) {
      if (!done[i] && systems_[i]->HasDirectFeedthrough() && feeders[i].count(pick)) --pending[i];
    }
  }
  // The diagram has feedthrough if some subsystem output depends on a diagram input.
  std::vector<bool> depends(n, false);
  for (int s : d->order_) {
    const System& sys = *systems_[static_cast<size_t>(s)];
    if (!sys.HasDirectFeedthrough()) continue;
    for (int j = 0; j < sys.num_inputs(); ++j) {
      const Diagram::Source& src = d->src_[static_cast<size_t>(d->u_off_[static_cast<size_t>(s)] + j)];
      if (!src.from_output) depends[static_cast<size_t>(s)] = true;
    }
    for (int f : feeders[static_cast<size_t>(s)]) {
      if (depends[static_cast<size_t>(f)]) depends[static_cast<size_t>(s)] = true;
    }
  }
  for (bool b : depends) d->feedthrough_ = d->feedthrough_ || b;
  d->subs_ = std::move(systems_);
  return d;
}

int Diagram::SubsystemIndex(std::string_view name) const {
  for (size_t i = 0; i < subs_.size(); ++i) {
    if (subs_[i]->name() == name) return static_cast<int>(i);
  }
  return -1;
}

template <typename T, typename Y, typename U>
void Diagram::GatherInputs(int sub, InVec<T> u, const Y& y, U& uu) const {
  const System& s = *subs_[static_cast<size_t>(sub)];
  const int off = u_off_[static_cast<size_t>(sub)];
  for (int j = 0; j < s.num_inputs(); ++j) {
    const Diagram::Source& src = src_[static_cast<size_t>(off + j)];
    uu[off + j] = src.from_output ? y[src.index] : u[src.index];
  }
}

template <typename T, typename Y, typename U>
void Diagram::EvalAll(double t, InVec<T> x, InVec<T> u, InVec<T> p, Y& y, U& uu) const {
  for (int s : order_) {
    const System& sys = *subs_[static_cast<size_t>(s)];
    const size_t i = static_cast<size_t>(s);
    GatherInputs<T>(s, u, y, uu);
    sys.CalcOutputs(t, x.segment(x_off_[i], sys.num_states()), uu.segment(u_off_[i], sys.num_inputs()),
                    p.segment(p_off_[i], sys.num_parameters()), y.segment(y_off_[i], sys.num_outputs()));
  }
}

namespace {
constexpr int kStackSignals = 256;  // diagrams up to this many signals evaluate without allocating
using StackVec = Eigen::Matrix<double, Eigen::Dynamic, 1, Eigen::ColMajor, kStackSignals, 1>;
// The AD scalars are larger (value + inline derivative storage): a smaller stack bound.
constexpr int kStackAdSignals = 32;
template <typename T>
using StackAdVec = Eigen::Matrix<T, Eigen::Dynamic, 1, Eigen::ColMajor, kStackAdSignals, 1>;
}  // namespace

template <typename T>
void Diagram::Derivatives(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> xdot) const {
  auto run = [&](auto& y, auto& uu) {
    EvalAll<T>(t, x, u, p, y, uu);
    for (size_t i = 0; i < subs_.size(); ++i) {
      const System& sys = *subs_[i];
      if (sys.num_states() == 0) continue;
      GatherInputs<T>(static_cast<int>(i), u, y, uu);  // non-feedthrough systems saw stale inputs
      sys.CalcDerivatives(t, x.segment(x_off_[i], sys.num_states()), uu.segment(u_off_[i], sys.num_inputs()),
                          p.segment(p_off_[i], sys.num_parameters()),
                          xdot.segment(x_off_[i], sys.num_states()));
    }
  };
  if constexpr (std::is_same_v<T, double>) {
    if (num_outputs() <= kStackSignals && total_inputs_ <= kStackSignals) {
      StackVec y = StackVec::Zero(num_outputs()), uu = StackVec::Zero(total_inputs_);
      run(y, uu);
      return;
    }
  } else {
    if (num_outputs() <= kStackAdSignals && total_inputs_ <= kStackAdSignals) {
      StackAdVec<T> y = StackAdVec<T>::Zero(num_outputs()), uu = StackAdVec<T>::Zero(total_inputs_);
      run(y, uu);
      return;
    }
  }
  VectorX<T> y = VectorX<T>::Zero(num_outputs()), uu = VectorX<T>::Zero(total_inputs_);
  run(y, uu);
}

template <typename T>
void Diagram::Outputs(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> y) const {
  if constexpr (std::is_same_v<T, double>) {
    if (total_inputs_ <= kStackSignals) {
      StackVec uu = StackVec::Zero(total_inputs_);
      y.setZero();
      EvalAll<T>(t, x, u, p, y, uu);
      return;
    }
  } else {
    if (total_inputs_ <= kStackAdSignals) {
      StackAdVec<T> uu = StackAdVec<T>::Zero(total_inputs_);
      for (Eigen::Index i = 0; i < y.size(); ++i) y[i] = T(0.0);
      EvalAll<T>(t, x, u, p, y, uu);
      return;
    }
  }
  VectorX<T> uu = VectorX<T>::Zero(total_inputs_);
  for (Eigen::Index i = 0; i < y.size(); ++i) y[i] = T(0.0);
  EvalAll<T>(t, x, u, p, y, uu);
}

void Diagram::CalcDerivatives(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                              OutVec<double> xdot) const {
  Derivatives<double>(t, x, u, p, xdot);
}
void Diagram::CalcDerivatives(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                              OutVec<AutoDiffXd> xdot) const {
  Derivatives<AutoDiffXd>(t, x, u, p, xdot);
}
void Diagram::CalcDerivatives(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                              OutVec<AutoDiff8> xdot) const {
  Derivatives<AutoDiff8>(t, x, u, p, xdot);
}
void Diagram::CalcOutputs(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                          OutVec<double> y) const {
  Outputs<double>(t, x, u, p, y);
}
void Diagram::CalcOutputs(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                          OutVec<AutoDiffXd> y) const {
  Outputs<AutoDiffXd>(t, x, u, p, y);
}
void Diagram::CalcOutputs(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                          OutVec<AutoDiff8> y) const {
  Outputs<AutoDiff8>(t, x, u, p, y);
}

}  // namespace doppel::physics
