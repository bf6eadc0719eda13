// The in-process broker: synchronous fan-out between buses of one process.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "doppel/platform/pubsub.h"

namespace doppel::platform {

namespace {
class InProcessBus;
}

struct InProcessBroker::Impl {
  std::mutex mu;
  std::vector<InProcessBus*> buses;  // guarded by mu; buses remove themselves on destruction
};

namespace {

struct Subscription {
  std::string filter;
  MessageHandler handler;
};

class InProcessBus final : public MessageBus {
 public:
  InProcessBus(std::shared_ptr<InProcessBroker::Impl> broker, std::string id)
      : broker_(std::move(broker)), id_(std::move(id)) {}
  ~InProcessBus() override { Stop(); }

  Status Start() override {
    std::lock_guard lk(broker_->mu);
    if (!started_) broker_->buses.push_back(this);
    started_ = true;
    return Status::Ok();
  }
  void Stop() override {
    {
      std::lock_guard lk(broker_->mu);
      auto& v = broker_->buses;
      v.erase(std::remove(v.begin(), v.end(), this), v.end());
      started_ = false;
    }
    // Wait for deliveries that copied our handlers before we left the broker.
    while (delivering_.load() > 0) std::this_thread::yield();
  }
  Status Subscribe(const std::string& filter, int qos, MessageHandler handler) override {
    std::lock_guard lk(mu_);
    subs_ = std::make_shared<std::vector<Subscription>>(*subs_);
    subs_->push_back({filter, std::move(handler)});
    return Status::Ok();
  }
  Status Publish(const std::string& topic, std::string_view payload, int qos) override {
    std::vector<InProcessBus*> targets;
    {
      std::lock_guard lk(broker_->mu);
      if (!started_) return Unavailable("in-process bus '" + id_ + "' is not started");
      targets = broker_->buses;
      for (auto* b : targets) b->delivering_.fetch_add(1);
    }
    for (auto* b : targets) {
      b->Deliver(topic, payload);
      b->delivering_.fetch_sub(1);
    }
    return Status::Ok();
  }
  bool connected() const override { return started_; }

 private:
  void Deliver(std::string_view topic, std::string_view payload) {
    std::shared_ptr<const std::vector<Subscription>> subs;
    {
      std::lock_guard lk(mu_);
      subs = subs_;
    }
    for (const auto& s : *subs) {
      if (TopicMatches(s.filter, topic)) s.handler(topic, payload);
    }
  }

  std::shared_ptr<InProcessBroker::Impl> broker_;
  std::string id_;
  std::atomic<bool> started_{false};  // written under broker_->mu
  std::atomic<int> delivering_{0};
  std::mutex mu_;
  std::shared_ptr<std::vector<Subscription>> subs_ = std::make_shared<std::vector<Subscription>>();
};

}  // namespace

InProcessBroker::InProcessBroker() : impl_(std::make_shared<Impl>()) {}
InProcessBroker::~InProcessBroker() = default;

std::unique_ptr<MessageBus> InProcessBroker::Connect(const std::string& client_id) {
  return std::make_unique<InProcessBus>(impl_, client_id);
}

}  // namespace doppel::platform
