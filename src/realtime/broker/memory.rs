//! The in-process broker: an actor holding topic → subscribers. Publishing is a message to it, so
//! there is no lock to contend on; it forwards each envelope (an `Arc`) to the topic's subscribers.

use std::collections::HashMap;
use std::sync::Arc;

use actix::{Actor, Addr, Context, Handler, Message};

use super::{Broker, Envelope, Subscriber, SubscriberId, Topic};

#[derive(Default)]
pub struct MemoryBrokerActor {
    topics: HashMap<Topic, HashMap<SubscriberId, Subscriber>>,
}

impl Actor for MemoryBrokerActor {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Publish(Topic, Arc<Envelope>);

#[derive(Message)]
#[rtype(result = "()")]
struct Subscribe(Topic, SubscriberId, Subscriber);

#[derive(Message)]
#[rtype(result = "()")]
struct Unsubscribe(Topic, SubscriberId);

impl Handler<Publish> for MemoryBrokerActor {
    type Result = ();
    fn handle(&mut self, Publish(topic, envelope): Publish, _: &mut Context<Self>) {
        // Local publications and those received from other instances both end here.
        let _span = tracing::trace_span!("broker.deliver", topic = %topic).entered();
        if let Some(subscribers) = self.topics.get_mut(&topic) {
            // A subscriber whose actor is gone is dropped here rather than on its own unsubscribe.
            subscribers.retain(|_, r| r.connected());
            for subscriber in subscribers.values() {
                subscriber.deliver(topic, &envelope);
            }
            if subscribers.is_empty() {
                self.topics.remove(&topic);
            }
        }
    }
}

impl Handler<Subscribe> for MemoryBrokerActor {
    type Result = ();
    fn handle(&mut self, Subscribe(topic, id, r): Subscribe, _: &mut Context<Self>) {
        self.topics.entry(topic).or_default().insert(id, r);
    }
}

impl Handler<Unsubscribe> for MemoryBrokerActor {
    type Result = ();
    fn handle(&mut self, Unsubscribe(topic, id): Unsubscribe, _: &mut Context<Self>) {
        if let Some(subscribers) = self.topics.get_mut(&topic) {
            subscribers.remove(&id);
            if subscribers.is_empty() {
                self.topics.remove(&topic);
            }
        }
    }
}

pub struct MemoryBroker {
    pub addr: Addr<MemoryBrokerActor>,
}

impl MemoryBroker {
    pub fn start() -> Self {
        Self { addr: MemoryBrokerActor::default().start() }
    }
}

impl Broker for MemoryBroker {
    fn publish(&self, topic: Topic, envelope: Envelope) {
        self.addr.do_send(Publish(topic, Arc::new(envelope)));
    }

    fn subscribe(&self, topic: Topic, id: SubscriberId, subscriber: Subscriber) {
        self.addr.do_send(Subscribe(topic, id, subscriber));
    }

    fn unsubscribe(&self, topic: Topic, id: SubscriberId) {
        self.addr.do_send(Unsubscribe(topic, id));
    }
}
